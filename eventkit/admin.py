"""Admin pages for the store: everything readable, nothing editable.

Events are facts; the admin shows them (searchable, filterable, JSON pretty-printed) and
offers no way to add, change or delete one.

Each service sees only the tables it uses: the store's (events, streams, commands, relay
cursor) where it records events of its own, which it declares by publishing them
(``EVENTKIT["STREAM"]``); checkpoints and dead letters where it consumes others' events
(``EVENTKIT["CONSUMER"]``).
"""

import json

from django.contrib import admin
from django.contrib.admin.views.main import ERROR_FLAG
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from eventkit.conf import setting
from eventkit.models import Checkpoint, CommandRecord, DeadLetter, Event, RelayCursor, Stream


def pretty_json(value) -> str:
    return format_html(
        '<pre style="margin:0;white-space:pre-wrap">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str),
    )


def filters_the_database_can_take(params) -> bool:
    """Whether the list filters in ``params`` can reach the database: PostgreSQL's text
    refuses a NUL byte, and a date holds no year past 9999 (nor does the date hierarchy's
    end of a drill-down into 9999, the next year, month or day). Django's admin catches the
    filters it cannot build, not those that fail as the query runs."""
    for key, values in params.lists():
        for value in values:
            if "\x00" in value:
                return False
            if key.endswith("__year"):
                try:
                    if not -9999 <= int(value) < 9999:
                        return False
                except ValueError:
                    pass  # not a number: Django's admin refuses it itself
    return True


class ReadOnlyAdmin(admin.ModelAdmin):
    def changelist_view(self, request, extra_context=None):
        if not filters_the_database_can_take(request.GET):
            # as the admin answers any filter it cannot apply: the whole list, and a note
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def get_object(self, request, object_id, from_field=None):
        if "\x00" in object_id:
            return None  # as for any id that names nothing; PostgreSQL's text refuses it
        return super().get_object(request, object_id, from_field)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EventAdmin(ReadOnlyAdmin):
    list_display = ("position", "event_type", "stream_type", "stream_id", "version", "recorded_at")
    list_filter = ("stream_type", "event_type", "recorded_at")
    search_fields = ("=stream_id", "event_type", "=event_id")
    ordering = ("-position",)
    date_hierarchy = "recorded_at"
    show_full_result_count = False
    fields = (
        "position",
        "event_id",
        "stream_type",
        "stream_id",
        "version",
        "event_type",
        "schema_version",
        "recorded_at",
        "data_pretty",
        "metadata_pretty",
    )
    readonly_fields = fields

    @admin.display(description="data")
    def data_pretty(self, obj):
        return pretty_json(obj.data)

    @admin.display(description="metadata")
    def metadata_pretty(self, obj):
        return pretty_json(obj.metadata)


class StreamAdmin(ReadOnlyAdmin):
    list_display = ("stream_id", "stream_type", "version", "snapshot_version", "updated_at")
    list_filter = ("stream_type",)
    search_fields = ("=stream_id",)
    fields = (
        "stream_id",
        "stream_type",
        "version",
        "snapshot_version",
        "snapshot_schema",
        "updated_at",
        "snapshot_pretty",
    )
    readonly_fields = fields

    @admin.display(description="snapshot")
    def snapshot_pretty(self, obj):
        return pretty_json(obj.snapshot)


class CommandRecordAdmin(ReadOnlyAdmin):
    list_display = ("command_id", "command_type", "stream_id", "recorded_at")
    list_filter = ("command_type",)
    search_fields = ("=command_id", "=stream_id")
    fields = (
        "command_id",
        "command_type",
        "stream_id",
        "fingerprint",
        "recorded_at",
        "outcome_pretty",
    )
    readonly_fields = fields

    @admin.display(description="outcome")
    def outcome_pretty(self, obj):
        return pretty_json(obj.outcome)


class RelayCursorAdmin(ReadOnlyAdmin):
    list_display = ("name", "position", "updated_at")


class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("source", "position", "event_id", "held_since", "updated_at")


class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ("source", "position", "event_type", "attempts", "created_at")
    list_filter = ("source", "event_type")
    search_fields = ("event_id", "error")
    fields = (
        "source",
        "position",
        "event_id",
        "event_type",
        "attempts",
        "created_at",
        "error",
        "data_pretty",
    )
    readonly_fields = fields

    @admin.display(description="data")
    def data_pretty(self, obj):
        return pretty_json(obj.data)


if setting("STREAM"):
    admin.site.register(Event, EventAdmin)
    admin.site.register(Stream, StreamAdmin)
    admin.site.register(CommandRecord, CommandRecordAdmin)
    admin.site.register(RelayCursor, RelayCursorAdmin)

if setting("CONSUMER"):
    admin.site.register(Checkpoint, CheckpointAdmin)
    admin.site.register(DeadLetter, DeadLetterAdmin)
