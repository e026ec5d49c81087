app_name = "mobile_patrols"
urlpatterns = []
