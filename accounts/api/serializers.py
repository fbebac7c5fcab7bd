from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from ..allowlist import validate_allowlist
from ..models import ApiKey, Invitation, Membership


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    status = serializers.CharField(read_only=True)
    allowed_models = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Model ids and route names the key may call; empty: all.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "status",
            "created_by",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "rpm_limit",
            "tpm_limit",
            "allowed_models",
            "route_quality",
        ]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
        extra_kwargs = {
            "rpm_limit": {"min_value": 1},
            "tpm_limit": {"min_value": 1},
            "route_quality": {"min_value": 0.0, "max_value": 1.0},
        }

    def get_created_by(self, key) -> str | None:
        return key.created_by.email if key.created_by else None

    def validate_allowed_models(self, names):
        try:
            return validate_allowlist(names)
        except DjangoValidationError as e:
            raise serializers.ValidationError(e.messages) from e

    def validate_expires_at(self, value):
        if self.instance is not None:
            raise serializers.ValidationError("The expiry is set when a key is created (rotate to change it).")
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class ApiKeyCreatedSerializer(ApiKeySerializer):
    secret = serializers.CharField(read_only=True, help_text="The full key. Shown once: store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = ApiKeySerializer.Meta.fields + ["secret"]


class RotateSerializer(serializers.Serializer):
    grace_seconds = serializers.IntegerField(
        min_value=0,
        max_value=30 * 24 * 3600,
        default=24 * 3600,
        help_text="How long the old key keeps working; 0 revokes it now.",
    )

    def grace(self) -> timedelta:
        return timedelta(seconds=self.validated_data["grace_seconds"])


class RotatedSerializer(serializers.Serializer):
    key = ApiKeyCreatedSerializer(help_text="The new key, with its secret (shown once).")
    previous = ApiKeySerializer(help_text="The old key, with the expiry the grace period gave it.")


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    user_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user_id", "email", "role", "created_at"]
        read_only_fields = ["created_at"]


class InvitationSerializer(serializers.ModelSerializer):
    invited_by = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]
        read_only_fields = ["created_at", "expires_at"]

    def get_invited_by(self, invitation) -> str | None:
        return invitation.invited_by.email if invitation.invited_by else None
