from django.shortcuts import render


def model_prices(request, provider: str, model: str):
    """A model's price history, public (disabled models are not listed)."""
    from django.shortcuts import get_object_or_404

    from .models import CatalogModel
    from .selectors import price_history

    m = get_object_or_404(CatalogModel, public_id=f"{provider}/{model}", enabled=True, provider__enabled=True)
    return render(request, "routing/model_prices.html", {"model": m, "history": price_history(m)})
