"""KapsoUploadMediaOperator and KapsoMarkAsReadOperator: their arguments, checked when the DAG file is parsed.

Both run in real DAGs in ``tests/test_example_dags.py`` (``kapso_current_api``, ``kapso_reply_workflow``),
on both API generations.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoInvalidMessageError
from kapso_provider.operators.kapso import (
    KapsoMarkAsReadOperator,
    KapsoSendMessageOperator,
    KapsoUploadMediaOperator,
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, "file_path: give exactly one of file_path", id="neither"),
        pytest.param(
            {"file_path": "/tmp/a.pdf", "url": "https://e.com/a.pdf"}, "file_path: give exactly one", id="both"
        ),
        pytest.param({"file_path": "/tmp/a.pdf", "filename": "b.pdf"}, "filename: only with url", id="filename"),
    ],
)
def test_upload_arguments_are_checked_at_parse_time(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(KapsoArgumentError, match="^" + re.escape(expected)):
        KapsoUploadMediaOperator(task_id="upload", **kwargs)


def test_upload_template_fields() -> None:
    assert set(KapsoUploadMediaOperator.template_fields) == {
        "kapso_conn_id",
        "file_path",
        "url",
        "mime_type",
        "filename",
        "phone_number_id",
    }


@pytest.mark.parametrize(("value", "expected"), [(None, None), (True, True), ("false", False), ("True", True)])
def test_typing_indicator_takes_a_rendered_text(value: Any, expected: bool | None) -> None:
    operator = KapsoMarkAsReadOperator(task_id="read", message_id="wamid.A", typing_indicator=value)
    assert operator._checked() == ("wamid.A", expected)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"message_id": ""}, "message_id: ", id="empty-id"),
        pytest.param(
            {"message_id": "m", "typing_indicator": "sometimes"}, "typing_indicator: must be true or false", id="typing"
        ),
    ],
)
def test_mark_as_read_arguments_are_checked_at_parse_time(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(KapsoArgumentError, match="^" + re.escape(expected)):
        KapsoMarkAsReadOperator(task_id="read", **kwargs)


def test_a_templated_message_id_waits_for_the_render() -> None:
    KapsoMarkAsReadOperator(task_id="read", message_id="{{ ti.xcom_pull('wait')[0]['message_id'] }}")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"phone_number_id": "my-number"},
            "phone_number_id: must be Meta's numeric id of a WhatsApp number",
            id="not-an-id",
        ),
        pytest.param(
            {"phone_number_id": "106540352242922", "whatsapp_config_id": "x"},
            "phone_number_id, whatsapp_config_id: give the sender of the connection's API generation, not both",
            id="both-senders",
        ),
        pytest.param({"content": "x", "preview_url": "maybe"}, "preview_url: expected true or false", id="preview-url"),
        pytest.param(
            {
                "message_type": "interactive",
                "interactive_type": "cta_url",
                "body_text": "b",
                "button_text": "x" * 21,
                "button_url": "https://e.com",
            },
            "button_text: 21 characters, limit 20",
            id="cta-text",
        ),
    ],
)
def test_the_current_apis_arguments_are_checked_at_parse_time(kwargs: dict[str, Any], expected: str) -> None:
    arguments = {"phone_number": "+15551234567", "content": "hi", **kwargs}
    if "message_type" in kwargs:
        del arguments["content"]
    with pytest.raises(KapsoInvalidMessageError, match=re.escape(expected)):
        KapsoSendMessageOperator(task_id="send", **arguments)


def test_a_current_only_field_passes_parse_time_the_generation_is_not_known_yet() -> None:
    # The connection is read when the task runs: a v1 connection refuses the field then, before any request.
    KapsoSendMessageOperator(task_id="send", phone_number="+15551234567", content="hi", preview_url=True)
    KapsoSendMessageOperator(
        task_id="sticker", phone_number="+15551234567", message_type="sticker", media_id="1", phone_number_id="1065"
    )
