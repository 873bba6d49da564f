"""The SDK round-trip through the Python client that openapi-python-client generates from the contract.

conftest.py generates the client into generated/config_service_client; flow_test.py runs this file with the client's
own dependencies (httpx, attrs, python-dateutil), not the service's: python flow.py <base URL> [<API key>]. Every
request goes through the generated functions.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "generated"))

from config_service_client import AuthenticatedClient  # noqa: E402
from config_service_client.api.applications import (  # noqa: E402
    create_application, delete_application, get_application, list_applications)
from config_service_client.api.configurations import (  # noqa: E402
    create_configuration, get_configuration, list_configuration_revisions, restore_configuration_revision,
    update_configuration)
from config_service_client.models import (  # noqa: E402
    ApplicationCreate, ConfigDocument, ConfigurationCreate, ConfigurationResource, ConfigurationUpdate, Problem)

CONFIG = {"host": "db", "port": 5432, "tags": ["a", "b"], "nested": {"x": None}}
CHANGED = {"host": "db2", "port": 5433, "tags": [], "nested": {"x": 1}}


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"failed: {what}")


def main(base_url: str, key: str = "") -> None:
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)

    app = create_application.sync_detailed(client=client, body=ApplicationCreate(name=f"sdk-py-{time.time_ns()}"))
    check(app.status_code == 201, "create application answers 201")
    app_id = app.parsed.id

    created = create_configuration.sync_detailed(client=client, body=ConfigurationCreate(
        application_id=app_id, name="database", config=ConfigDocument.from_dict(CONFIG)))
    check(created.status_code == 201 and isinstance(created.parsed, ConfigurationResource),
          "create configuration answers 201")
    config_id, etag = created.parsed.id, created.headers["ETag"]

    owner = get_application.sync(app_id, client=client)
    check(config_id in owner.configuration_ids, "the application lists the configuration")

    listed = list_applications.sync(client=client, name=app.parsed.name)
    check([item.id for item in listed.items] == [app_id], "list applications finds it")

    updated = update_configuration.sync_detailed(config_id, client=client, if_match=etag, body=ConfigurationUpdate(
        name="database", config=ConfigDocument.from_dict(CHANGED)))
    check(updated.status_code == 200 and updated.parsed.version == 2, "update with If-Match answers version 2")

    stale = update_configuration.sync_detailed(config_id, client=client, if_match=etag, body=ConfigurationUpdate(
        name="database", config=ConfigDocument.from_dict(CONFIG)))
    check(stale.status_code == 412 and isinstance(stale.parsed, Problem), "a stale If-Match is a typed 412 problem")

    read = get_configuration.sync(config_id, client=client)
    check(read.config.to_dict() == CHANGED, "the config round-trips exactly")

    revisions = list_configuration_revisions.sync(config_id, client=client)
    check(len(revisions.items) == 2, "two revisions")

    restored = restore_configuration_revision.sync(config_id, 1, client=client)
    check(restored.config.to_dict() == CONFIG, "restore brings version 1 back")

    deleted = delete_application.sync_detailed(app_id, client=client)
    check(deleted.status_code == 204, "delete application answers 204")

    gone = get_configuration.sync_detailed(config_id, client=client)
    check(gone.status_code == 404 and isinstance(gone.parsed, Problem) and gone.parsed.status == 404
          and gone.parsed.type_.endswith("/not-found"), "the deleted configuration is a typed 404 problem")
    print("python client: every step passed")


if __name__ == "__main__":
    main(*sys.argv[1:])
