from django import template

from ..tenancy import current_membership, memberships_of

register = template.Library()


@register.inclusion_tag("accounts/_account_nav.html", takes_context=True)
def account_nav(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return {"user": user, "request": request}
    return {
        "user": user,
        "request": request,
        "current": current_membership(request),
        "memberships": memberships_of(user),
    }
