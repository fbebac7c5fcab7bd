"""What a key's allow-list may name: routes (``auto-code``) and models (``anthropic/claude-sonnet-4``)."""

from django.core.exceptions import ValidationError


def allowlist_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices for a form: the routing modes, then the models."""
    from routing.models import CatalogModel, Route

    routes = [(r.name, f"{r.name} — {r.goal}") for r in Route.objects.order_by("name")]
    models = [(m.public_id, m.public_id) for m in CatalogModel.objects.order_by("public_id")]
    return [("Routing modes", routes), ("Models", models)]


def validate_allowlist(names: list[str]) -> list[str]:
    """The names, stripped and without duplicates; ValidationError when one is not in the catalog."""
    from routing.models import CatalogModel, Route

    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ValidationError("Give a list of model and route names.")
    cleaned = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    known = set(Route.objects.filter(name__in=cleaned).values_list("name", flat=True))
    known |= set(CatalogModel.objects.filter(public_id__in=cleaned).values_list("public_id", flat=True))
    unknown = [n for n in cleaned if n not in known]
    if unknown:
        raise ValidationError(f"Not a model or route: {', '.join(unknown)}.")
    return cleaned
