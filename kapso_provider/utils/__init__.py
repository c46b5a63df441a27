"""Pure helpers shared by the sensors, the triggers and the operators that wait on Kapso.

No I/O and no Airflow: what a message status means (:mod:`~kapso_provider.utils.message_status`), which
listed messages are new (:mod:`~kapso_provider.utils.inbound`), what answers a question
(:mod:`~kapso_provider.utils.replies`) and how long to wait (:mod:`~kapso_provider.utils.waiting`). A
sensor and its trigger decide the same way because they call the same function here, never each other.
:mod:`~kapso_provider.utils.mixins` gives operators and sensors alike their ``hook``.
"""
