from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.utils.module_loading import import_string

API_PREFIX = "/v1/"


class WebOnly:
    """Runs settings.WEB_MIDDLEWARE for the web pages and nothing for the API.

    The gateway's API authenticates with API keys, has no sessions, cookies or CSRF, and is the
    path whose overhead the product is judged on; Django's built-in middleware would add thread
    hops to every API request under ASGI.
    """

    async_capable = True
    sync_capable = False

    def __init__(self, get_response):
        self.get_response = get_response
        chain = get_response
        for path in reversed(settings.WEB_MIDDLEWARE):
            chain = import_string(path)(chain)
        self.web = chain
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    async def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            return await self.get_response(request)
        return await self.web(request)
