from django.contrib import admin
from django.urls import path

from routing import views as api
from routing.views import home

urlpatterns = [
    path("v1/chat/completions", api.chat_completions, name="chat-completions"),
    path("v1/models", api.list_models, name="models"),
    path("admin/", admin.site.urls),
    path("", home, name="home"),
]
