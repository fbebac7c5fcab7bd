from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

# The admin signs in through allauth's form, so its brute-force limits apply there too.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]  # allauth's documented wrap

# The API under /v1/ is served by routing.http, ahead of Django (see aipower/asgi.py).
urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/", include("accounts.api.urls")),
    path("api/", include("analytics.api_urls")),
    path("billing/", include("billing.urls")),
    path("", include("routing.urls")),
    path("dashboard/", include("analytics.urls")),
    path("", include("accounts.urls")),
    path("", include("website.urls")),
]
