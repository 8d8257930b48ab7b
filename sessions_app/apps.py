from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Inside a session: chat and recordings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # What the core asks of the app, handed over here: the core does not import its apps.
        from k12.demo import demo_seed_register
        from k12.selectors import session_annotation_register
        from sessions_app.chat.demo import demo_messages_seed
        from sessions_app.chat.selectors import sessions_with_unread

        session_annotation_register("unread", sessions_with_unread)
        demo_seed_register("chat messages", demo_messages_seed)
