from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from grid import api as grid_api
from issues import api as issues_api
from incentives import api as incentives_api
from patrols import api as patrols_api

router = DefaultRouter()
grid_api.register(router)
issues_api.register(router)
patrols_api.register(router)
incentives_api.register(router)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="mobile:home", permanent=False)),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("m/issues/", include("issues.urls")),
    path("m/patrols/", include("patrols.urls")),
    path("m/points/", include("incentives.urls")),
    path("m/", include("grid.urls")),
    path("", include("issues.urls_public")),
    path("api/v1/auth/token/", obtain_auth_token, name="api-token"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

if settings.DEBUG or not settings.PRODUCTION:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
