"""The published language: how other services read the events a service publishes.

An event-sourced service defines its own events in its domain module and appends them.
Services that *consume* those events (marketing, the BFF) read them through the classes
here: tolerant readers that declare only the fields consumers rely on and ignore the rest,
so a publisher can add a field without breaking anyone. One definition, shared, instead
of a copy in every consumer.
"""
