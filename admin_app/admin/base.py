"""How the desk writes: through the service that owns the write (``ServiceCreateAdminMixin``),
or not at all (``ReadOnlyAdmin``)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from rest_framework.exceptions import APIException, ValidationError

from admin_app.paginator import EstimatedCountPaginator


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


def error_texts(detail) -> list[str]:
    if isinstance(detail, (list, tuple)):
        return [str(d) for d in detail]
    return [str(detail)]


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
                except ValidationError as exc:
                    detail = exc.detail if isinstance(exc.detail, dict) else {None: exc.detail}
                    for field, errors in detail.items():
                        target = model_admin.service_field_map.get(field, field)
                        if target not in self.fields:
                            target = None
                        for message in error_texts(errors):
                            self.add_error(target, message)
                except APIException as exc:
                    self.add_error(None, str(exc.detail))
                except PermissionDenied as exc:
                    self.add_error(None, str(exc) or "Not allowed.")

        return ServiceForm

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        # On add, the service has already saved the object in the form's _post_clean.

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)
