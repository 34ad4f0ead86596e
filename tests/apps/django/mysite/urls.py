from django.http import JsonResponse
from django.urls import path


def health(request):
    return JsonResponse({"status": "ok"})


def summarize(request):
    text = request.GET.get("text", "")
    return JsonResponse({"words": len(text.split()), "summary": text[:80]})


urlpatterns = [
    path("healthz/", health),
    path("summarize/", summarize),
]
