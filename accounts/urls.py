from django.urls import path

from .views import audit, keys, members, organizations

app_name = "accounts"

urlpatterns = [
    path("keys/", keys.key_list, name="keys"),
    path("keys/<int:pk>/", keys.key_detail, name="key"),
    path("keys/<int:pk>/revoke/", keys.key_revoke, name="key-revoke"),
    path("keys/<int:pk>/rotate/", keys.key_rotate, name="key-rotate"),
    path("members/", members.member_list, name="members"),
    path("members/invite/", members.member_invite, name="member-invite"),
    path("members/<int:pk>/role/", members.member_role, name="member-role"),
    path("members/<int:pk>/remove/", members.member_remove, name="member-remove"),
    path("invitations/<int:pk>/cancel/", members.invitation_cancel_view, name="invitation-cancel"),
    path("invite/<str:token>/", members.invitation_accept_view, name="invitation-accept"),
    path("orgs/switch/", organizations.org_switch, name="org-switch"),
    path("orgs/new/", organizations.org_new, name="org-new"),
    path("tokens/", organizations.token_list, name="tokens"),
    path("audit/", audit.audit_list, name="audit"),
    path("tokens/<int:pk>/revoke/", organizations.token_revoke, name="token-revoke"),
]
