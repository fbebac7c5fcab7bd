from django.shortcuts import render


def home(request):
    from .models import Route

    routes = Route.objects.filter(enabled=True).prefetch_related("targets__model").order_by("id")
    return render(request, "home.html", {"routes": routes})
