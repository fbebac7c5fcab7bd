"""The management API: the keys, members and invitations of one organization, as REST.

Every view works in the caller's organization: the management token's, or the session's current one.
Rows of other organizations are not in any queryset here, so their ids answer 404.
"""

from collections.abc import Sequence

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from ..models import ApiKey, Invitation, ManagementToken, Membership
from ..orgs import NotAllowed, invitation_cancel, invitation_invite, membership_change_role, membership_remove
from ..scoping import organization_scope
from ..services import KeyNotActive, apikey_create, apikey_revoke, apikey_rotate, apikey_update
from ..tenancy import current_membership, invitations_of, keys_of, members_of
from .authentication import ManagementTokenAuthentication
from .serializers import (
    ApiKeyCreatedSerializer,
    ApiKeySerializer,
    InvitationSerializer,
    MemberSerializer,
    RotatedSerializer,
    RotateSerializer,
)


class OrganizationScoped:
    authentication_classes: Sequence[type[BaseAuthentication]] = [ManagementTokenAuthentication, SessionAuthentication]
    http_method_names: Sequence[str] = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def membership(self):
        if isinstance(self.request.auth, ManagementToken):
            return self.request.auth.membership
        membership = current_membership(self.request._request)
        if membership is None:
            raise PermissionDenied("You are not a member of any organization.")
        return membership

    # Authentication happens inside dispatch(), in initial(): the caller's organization scope
    # (accounts.scoping) is entered there, and left when the response is finalized.
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._organization_scope = organization_scope(self.membership.organization_id)
        self._organization_scope.__enter__()

    def finalize_response(self, request, response, *args, **kwargs):
        entered, self._organization_scope = getattr(self, "_organization_scope", None), None
        if entered is not None:
            entered.__exit__(None, None, None)
        return super().finalize_response(request, response, *args, **kwargs)


class NotAllowedAs403:
    """The services' refusals: NotAllowed (the actor may not) is 403; KeyNotActive (the key's
    state forbids it, whoever asks) is 400."""

    def handle_exception(self, exc):
        if isinstance(exc, KeyNotActive):
            exc = ValidationError({"detail": str(exc)})
        elif isinstance(exc, NotAllowed):
            exc = PermissionDenied(str(exc))
        return super().handle_exception(exc)


@extend_schema(tags=["keys"])
class KeyViewSet(
    NotAllowedAs403, OrganizationScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Gateway API keys. Owners and admins manage every key of the organization, members their own;
    viewers none. DELETE revokes a key (it stays listed, as revoked)."""

    serializer_class = ApiKeySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return ApiKey.objects.none()
        return keys_of(self.membership).order_by("-created_at")

    @extend_schema(responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = apikey_create(actor=self.membership, **serializer.validated_data)
        key.secret = raw
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        key = self.get_object()
        serializer = ApiKeySerializer(key, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        apikey_update(actor=self.membership, key=key, **serializer.validated_data)
        return Response(ApiKeySerializer(key).data)

    def destroy(self, request, pk=None):
        apikey_revoke(actor=self.membership, key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=RotateSerializer, responses={201: RotatedSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        """A new secret for the key; the old one keeps working for `grace_seconds`."""
        key = self.get_object()
        params = RotateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        new, raw = apikey_rotate(actor=self.membership, key=key, grace=params.grace())
        key.refresh_from_db()
        new.secret = raw
        body = {"key": ApiKeyCreatedSerializer(new).data, "previous": ApiKeySerializer(key).data}
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["members"])
class MemberViewSet(
    NotAllowedAs403, OrganizationScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Members of the organization and their roles. Owners and admins change roles and remove
    members (only owners touch owners); anyone may remove themselves (leave), except the last owner."""

    serializer_class = MemberSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return members_of(self.membership)

    def partial_update(self, request, pk=None):
        target = self.get_object()
        role = request.data.get("role")
        if not isinstance(role, str):
            raise ValidationError({"role": "Required: owner, admin, member or viewer."})
        membership_change_role(actor=self.membership, target=target, role=role)
        return Response(MemberSerializer(target).data)

    def destroy(self, request, pk=None):
        membership_remove(actor=self.membership, target=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["invitations"])
class InvitationViewSet(
    NotAllowedAs403, OrganizationScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Pending invitations (owners and admins only). Creating one emails its link to the address."""

    serializer_class = InvitationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        return invitations_of(self.membership)

    @extend_schema(responses={201: InvitationSerializer})
    def create(self, request):
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = invitation_invite(
            actor=self.membership,
            absolute_url=request.build_absolute_uri,
            **{k: serializer.validated_data[k] for k in ("email", "role")},
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        invitation_cancel(actor=self.membership, invitation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
