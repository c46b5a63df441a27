"""Work that takes several requests with decisions between them, run by the operators: one module per area.

A service talks to Kapso through a hook's endpoint methods, decides what to do next from the answers and
returns plain JSON; it knows nothing of Airflow. It raises :class:`~kapso_provider.exceptions.KapsoRunError`
when a run fails in Kapso or does not finish in time, and the operator turns that into the task's failure.
"""
