import io
import json
import logging

import pytest

from hotline.logging import mask_number, mask_text, setup_logging


@pytest.mark.parametrize(
    "text,masked",
    [
        ("caller 13812345678 rang", "caller 138****5678 rang"),
        ("+8613912345678", "+86139****5678"),
        ("id 11010519491231002X ok", "id 110***********002X ok"),
        ("tel 010-62345678", "tel 010-****5678"),
        ("PJSIP/trunk-0000000a", "PJSIP/trunk-0000000a"),
        ("uniqueid 1763730000.12", "uniqueid 1763730000.12"),
        ("dialled 12345", "dialled 12345"),
    ],
)
def test_mask_text(text, masked):
    assert mask_text(text) == masked


def test_mask_number():
    assert mask_number("13812345678") == "138****5678"
    assert mask_number("1001") == "****"
    assert mask_number("") == ""


def _capture(json_lines: bool) -> tuple[io.StringIO, logging.Handler]:
    buf = io.StringIO()
    handler = setup_logging("INFO", json_lines=json_lines, stream=buf)
    return buf, handler


def test_log_line_with_phone_number_is_masked():
    buf, handler = _capture(False)
    try:
        logging.getLogger("cti.test").info("call from %s to %s", "13812345678", "12345")
    finally:
        logging.getLogger().removeHandler(handler)
    line = buf.getvalue()
    assert "13812345678" not in line
    assert "138****5678" in line and "to 12345" in line


def test_json_log_masks_id_number_and_fields():
    buf, handler = _capture(True)
    try:
        logging.getLogger("ivr.test").info(
            "collected id 11010519491231002X", extra={"fields": {"caller": "13912345678", "node": "menu"}}
        )
    finally:
        logging.getLogger().removeHandler(handler)
    rec = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert rec["msg"] == "collected id 110***********002X"
    assert rec["caller"] == "139****5678"
    assert rec["node"] == "menu"
