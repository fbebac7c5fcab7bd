import time

from django.db.models.signals import post_delete, post_save
from django.test.signals import setting_changed

from routing.upstream import simulated_providers_banner

# The banner depends on the providers' key variables (read from the database) and the
# environment: it is worked out at most once per BANNER_TTL_S per process, not on every page,
# and at once again after a provider is saved or deleted in this process.
BANNER_TTL_S = 30.0
_banner: tuple[float, str] | None = None


def product(request):
    return {"simulator_banner": banner()}


def banner() -> str:
    global _banner
    now = time.monotonic()
    if _banner is None or _banner[0] <= now:
        _banner = (now + BANNER_TTL_S, simulated_providers_banner())
    return _banner[1]


def forget_banner(**kwargs) -> None:
    global _banner
    _banner = None


post_save.connect(forget_banner, sender="routing.Provider", dispatch_uid="aipower-banner-provider-saved")
post_delete.connect(forget_banner, sender="routing.Provider", dispatch_uid="aipower-banner-provider-deleted")
setting_changed.connect(forget_banner, dispatch_uid="aipower-banner-setting-changed")
