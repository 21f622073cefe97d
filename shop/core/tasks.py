"""The one way a service starts a Celery task: by its registered name, after commit.

Services never import their app's `tasks` module (tasks import services, so
that would be an import loop). They call `task_enqueue_on_commit(name, *args)`:
the task is looked up by name in the Celery app when the transaction commits,
so it runs only once the data it reads is visible, and it respects eager
mode (`CELERY_TASK_ALWAYS_EAGER`) like `.delay()` does.
"""

from celery import current_app
from django.db import transaction


def task_enqueue(name: str, *args) -> None:
    """Queue the task registered as `name` now (eager mode runs it in-process)."""
    app = current_app
    task = app.tasks.get(name)
    if task is None:  # task modules are autodiscovered lazily: load them once
        app.loader.import_default_modules()
        task = app.tasks[name]
    task.apply_async(args=args)


def task_enqueue_on_commit(name: str, *args) -> None:
    """Queue the task registered as `name` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task_enqueue(name, *args), robust=True)
