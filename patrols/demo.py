def build_demo_patrols(street):
    return 0
