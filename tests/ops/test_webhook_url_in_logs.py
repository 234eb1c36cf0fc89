"""A webhook URL carries its token in the path: urllib3's DEBUG line for the post must not show it."""

from __future__ import annotations

import logging

import pytest

from ops.notify import _post_webhook
from tests.ops.deployment import Orgs, settings_for
from tests.ops.receivers import WebhookReceiver


def test_the_webhook_token_stays_out_of_debug_logs(
    db: str, orgs: Orgs, webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    url = webhook.url.rsplit("/", 1)[0] + "/T1234/B5678/the-webhook-token?key=query-token"
    settings = settings_for(orgs.production, orgs.marketo, db, "production", NOTIFY_WEBHOOK_URL=url)
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        assert _post_webhook(settings, {"kind": "test"})
        assert _post_webhook(settings, {"kind": "test"})  # the filter is installed once, not per post

    assert webhook.paths == ["/hooks/T1234/B5678/the-webhook-token?key=query-token"] * 2
    posts = [r.getMessage() for r in caplog.records if '"POST' in r.getMessage()]
    assert len(posts) == 2 and all('"POST ********?******** HTTP/1.1" 200' in line for line in posts), posts
    assert "token" not in caplog.text
    filters = logging.getLogger("urllib3.connectionpool").filters
    mine = ["/hooks/T1234/B5678/the-webhook-token", "key=query-token"]
    assert len([f for f in filters if getattr(f, "hidden", None) == mine]) == 1
