"""How the desk writes: through the service that owns the write (``ServiceCreateAdminMixin``),
or not at all (``ReadOnlyAdmin``); and how it tells a service's refusal (``refusal_messages``)."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction

from admin_app.admin.paginator import EstimatedCountPaginator
from k12.errors import DomainError, Invalid


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only a service may create, change or delete."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts would scan the filtered table per filter: never on the big tables.
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def refusal_messages(exc: DomainError) -> dict[str | None, list[str]]:
    """A refusal as the desk tells it: its messages by form field (``None``: the whole form)."""
    if isinstance(exc, Invalid):
        return dict(exc.errors)
    return {None: [exc.message]}


def refusal_text(exc: DomainError) -> str:
    """A refusal in one line, for the message shown above a list."""
    return "; ".join(message for messages in refusal_messages(exc).values() for message in messages)


class ServiceCreateAdminMixin:
    """Creating an object in the admin calls ``create_via_service(request, cleaned_data)``
    instead of ``Model.save()``. The service's 400 field errors land on the form's fields
    (renamed through ``service_field_map``), its 403/409 on the form as a whole."""

    service_field_map: dict[str, str] = {}

    def create_via_service(self, request, data):  # pragma: no cover - each admin defines it
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            return form_class
        model_admin = self

        class ServiceForm(form_class):
            def _post_clean(self):
                if self.errors:
                    return
                try:
                    with transaction.atomic():
                        self.instance = model_admin.create_via_service(request, self.cleaned_data)
                except DomainError as exc:
                    for field, errors in refusal_messages(exc).items():
                        target = model_admin.service_field_map.get(field, field)
                        if target not in self.fields:
                            target = None
                        for message in errors:
                            self.add_error(target, message)

        return ServiceForm

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        # On add, the service has already saved the object in the form's _post_clean.

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)
