from django.shortcuts import render


def home(request):
    from .models import Route

    routes = Route.objects.filter(enabled=True).prefetch_related("targets__model").order_by("id")
    return render(request, "home.html", {"routes": routes})


def model_prices(request, provider: str, model: str):
    """A model's price history, public (disabled models are not listed)."""
    from django.shortcuts import get_object_or_404

    from .models import CatalogModel
    from .selectors import price_history

    m = get_object_or_404(CatalogModel, public_id=f"{provider}/{model}", enabled=True, provider__enabled=True)
    return render(request, "routing/model_prices.html", {"model": m, "history": price_history(m)})
