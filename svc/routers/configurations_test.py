APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"


def test_create_get_update_delete_configuration(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    created = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {"x": 1}})
    assert created.status_code == 201 and created.headers["location"] == f"{CONFIGS}/{created.json()['id']}"
    config_id = created.json()["id"]
    assert client.get(f"{CONFIGS}/{config_id}").json()["config"] == {"x": 1}
    updated = client.put(f"{CONFIGS}/{config_id}", json={"name": "db", "config": {"x": 2}, "comments": "c"})
    assert updated.json()["config"] == {"x": 2} and updated.json()["comments"] == "c"
    assert client.delete(f"{CONFIGS}/{config_id}").status_code == 204
    assert client.get(f"{CONFIGS}/{config_id}").status_code == 404


def test_create_configuration_requires_config(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    response = client.post(CONFIGS, json={"application_id": app_id, "name": "db"})
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/config"


def test_list_application_configurations_by_name(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    for name in ("db", "cache"):
        client.post(CONFIGS, json={"application_id": app_id, "name": name, "config": {}})
    page = client.get(f"{APPS}/{app_id}/configurations", params={"name": "cache"}).json()
    assert [c["name"] for c in page["items"]] == ["cache"] and page["next_cursor"] is None


def test_patch_merges_into_the_configuration_and_changes_only_what_it_names(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    created = client.post(CONFIGS, content=('{"application_id": "%s", "name": "db", "comments": "keep", "config": '
                                            '{"host": "h", "port": 5432, "pool": {"min": 1, "max": 10}, '
                                            '"tags": ["a", "b"], "ratio": 0.10}}' % app_id).encode()).json()
    path = f"{CONFIGS}/{created['id']}"
    patched = client.patch(path, content=b'{"config": {"port": 6432, "pool": {"max": 20}, "tags": ["c"], "host": null,'
                                         b' "new": {"deep": 1.50}}}',
                           headers={"Content-Type": "application/merge-patch+json"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["config"] == {"port": 6432, "pool": {"min": 1, "max": 20}, "tags": ["c"], "ratio": 0.1,
                              "new": {"deep": 1.5}}
    assert b'"ratio": 0.10' in patched.content and b'"deep": 1.50' in patched.content  # exactly as written
    assert (body["name"], body["comments"], body["version"]) == ("db", "keep", 2)
    assert patched.headers["etag"] == client.get(path).headers["etag"]
    renamed = client.patch(path, json={"name": "primary", "comments": None}).json()  # application/json too
    assert (renamed["name"], renamed["comments"], renamed["config"], renamed["version"]) == \
        ("primary", None, body["config"], 3)
    revisions = client.get(f"{path}/revisions").json()["items"]
    assert [r["version"] for r in revisions] == [3, 2, 1] and revisions[1]["config"] == body["config"]
    assert [c["kind"] for c in client.get(f"{APPS}/{app_id}/changes").json()["items"]] == \
        ["created", "updated", "updated"]


def test_patch_honours_if_match_and_refuses_what_a_put_could_not_write(client):
    app_id = client.post(APPS, json={"name": "a"}).json()["id"]
    first = client.post(CONFIGS, json={"application_id": app_id, "name": "db", "config": {"k": 1}})
    client.post(CONFIGS, json={"application_id": app_id, "name": "taken", "config": {}})
    path, etag = f"{CONFIGS}/{first.json()['id']}", first.headers["etag"]
    assert client.patch(path, json={"config": {"k": 2}}, headers={"If-Match": etag}).status_code == 200
    stale = client.patch(path, json={"config": {"k": 3}}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert stale.headers["etag"] == client.get(path).headers["etag"] != etag  # the current one
    assert client.patch(path, json={"config": {"k": 3}}, headers={"If-None-Match": "*"}).status_code == 412
    assert client.get(path).json()["config"] == {"k": 2}
    for body, pointer in (({"name": None}, "/name"), ({"config": None}, "/config"), ({"config": {"k": "\x00"}}, None),
                          ({"version": 9}, None), ({"name": " padded"}, "/name"), ({"comments": 5}, "/comments")):
        refused = client.patch(path, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert pointer is None or refused.json()["errors"][0]["pointer"] == pointer, refused.json()
    assert client.patch(path, json={"name": "taken"}).status_code == 409
    wide = client.patch(path, json={"config": {f"k{n}": n for n in range(1000)}})  # 1000 keys, and `k` already
    assert wide.status_code == 422 and wide.json()["errors"][0]["pointer"] == "/config", wide.text
    assert client.patch(path, content=b"k=1", headers={"Content-Type": "text/plain"}).status_code == 415
    json_patch = client.patch(path, content=b'[{"op": "remove", "path": "/config/k"}]',
                              headers={"Content-Type": "application/json-patch+json"})
    assert json_patch.status_code == 415
    assert json_patch.headers["accept-patch"] == "application/merge-patch+json, application/json"  # both taken
    assert client.patch(path, content=b'[1]', headers={"Content-Type": "application/merge-patch+json"}).status_code \
        == 422  # a merge patch of a configuration is an object
    assert client.patch(f"{CONFIGS}/01JD3B5ZQ6V2K9X4N8M7P1R0ST", json={"config": {}}).status_code == 404
    assert client.get(path).json()["version"] == 2  # nothing refused was written


def test_a_patch_is_held_to_the_size_a_put_of_the_result_may_send_its_numbers_as_short_as_sent(client, settings):
    """The merged document's size is the least a PUT may send it in: `1e100000` is 8 bytes in a body, though every
    read writes its 100,001 digits. Measured written out in full, a patch adding it to a document near the limit
    was refused "more than a PUT may send" while a PUT of the same document was taken (a review)."""
    app_id = client.post(APPS, json={"name": "sizes"}).json()["id"]
    filler = "x" * (settings.max_body_bytes - 200)
    made = client.post(CONFIGS, json={"application_id": app_id, "name": "big", "config": {"s": filler}})
    assert made.status_code == 201, made.text
    path = f"{CONFIGS}/{made.json()['id']}"
    patched = client.patch(path, content=b'{"config": {"n": 1e100000}}', headers={"Content-Type": "application/json"})
    assert patched.status_code == 200, patched.text
    too_big = client.patch(path, json={"config": {"t": "y" * 400}})  # past what a PUT may send, however written
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["pointer"] == "/config", too_big.text
