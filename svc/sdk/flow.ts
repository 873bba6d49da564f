// The SDK round-trip through the TypeScript client that @hey-api/openapi-ts generates from the contract
// (conftest.py generates it into generated/ts and compiles this file with `tsc --strict`; flow_test.py runs it).
// Every request goes through the generated functions; node flow.js <base URL> [<API key>].
// After the configuration's round trip, its history (diffs, a past read, an export imported into a new application
// by plan and apply), a read accepting a stale answer and a JSON merge patch, then an environment tree: a root and a
// child, an override in each (the child's removes a key with `null`), the child's effective view with its
// provenance, the same view by names, the two environments compared, and a watch of the view answered by a change of
// the parent's override.
// Then a managed API key: the flow's key (a settings `admin` key) creates a key that may read one application of
// two; a second client with that key reads the application's configuration, gets the other's as the 404 of an id
// that does not exist, lists the one application, and reads its own rights; once the admin client revokes the
// key, the key's client gets 401.
import { isDeepStrictEqual } from 'node:util';

import { createClient, createConfig } from './generated/ts/client';
import { client } from './generated/ts/client.gen';
import {
    applyImport, compareConfiguration, createApplication, createConfiguration, createEnvironment, createKey,
    deleteApplication, deleteEnvironment, exportApplication, findEffective, getApplication, getApplicationSnapshot,
    getConfiguration, getConfigurationDiff, getCurrentKey, getEffectiveConfiguration, getHealth, getKey,
    listApplications, listConfigurationRevisions, patchConfiguration, planImport, putOverride,
    restoreConfigurationRevision, revokeKey, updateConfiguration,
} from './generated/ts/sdk.gen';
import type {
    ApiKeyCreate, ClientOptions, ConfigDocument, CurrentKey, Environment, KeyActions, Problem,
} from './generated/ts/types.gen';

// The watch asks to be held for HELD seconds; a service that did not wake it on the write would answer the new
// view only then, so the flow wants it answered well before (within HANG_MS), a bound that only a hang reaches, as
// in tests/test_watch.py. A client's read timeout must be longer than the wait: Node's fetch waits 300 s for the
// response's headers.
const HELD = 240;
const HANG_MS = 120_000;

function check(condition: boolean, what: string): void {
    if (!condition) {
        throw new Error(`failed: ${what}`);
    }
}

// The same JSON value, whatever the order of its keys (the service answers a document with PostgreSQL's).
const same = (a: unknown, b: unknown): boolean => isDeepStrictEqual(a, b);
// The same instant, however RFC 3339 spells it.
const sameTime = (a: string | null | undefined, b: string): boolean =>
    typeof a === 'string' && Date.parse(a) === Date.parse(b);

async function main(): Promise<void> {
    const [baseUrl, key] = process.argv.slice(2);
    client.setConfig({ baseUrl, auth: key });
    const config: ConfigDocument = { host: 'db', port: 5432, tags: ['a', 'b'], nested: { x: null } };
    const changed: ConfigDocument = { host: 'db2', port: 5433, tags: [], nested: { x: 1 } };

    const app = await createApplication({ body: { name: `sdk-ts-${Date.now()}` } });
    check(app.response.status === 201 && app.data !== undefined, 'create application answers 201');
    const appId = app.data!.id;

    const created = await createConfiguration({ body: { application_id: appId, name: 'database', config } });
    check(created.response.status === 201 && created.data !== undefined, 'create configuration answers 201');
    const configId = created.data!.id;
    const etag = created.response.headers.get('ETag');
    check(etag !== null, 'create configuration sends an ETag');

    const owner = await getApplication({ path: { id: appId } });
    check(owner.data?.configuration_ids.includes(configId) === true, 'the application lists the configuration');

    const listed = await listApplications({ query: { name: app.data!.name } });
    check(listed.data?.items.length === 1 && listed.data.items[0].id === appId, 'list applications finds it');

    const updated = await updateConfiguration({
        path: { id: configId }, headers: { 'If-Match': etag! }, body: { name: 'database', config: changed },
    });
    check(updated.response.status === 200 && updated.data?.version === 2, 'update with If-Match answers version 2');

    const stale = await updateConfiguration({
        path: { id: configId }, headers: { 'If-Match': etag! }, body: { name: 'database', config },
    });
    check(stale.response.status === 412 && (stale.error as Problem | undefined)?.status === 412,
        'a stale If-Match is a typed 412 problem');

    const read = await getConfiguration({ path: { id: configId } });
    check(same(read.data?.config, changed), 'the config round-trips exactly');

    const revisions = await listConfigurationRevisions({ path: { id: configId } });
    check(revisions.data?.items.length === 2, 'two revisions');

    const restored = await restoreConfigurationRevision({ path: { id: configId, version: 1 } });
    check(restored.response.status === 200 && same(restored.data?.config, config), 'restore brings version 1 back');

    await history(appId, configId, app.data!.name, config);
    await patched(configId, config);
    const environments = await environmentTree(appId, app.data!.name);

    const deleted = await deleteApplication({ path: { id: appId } });
    check(deleted.response.status === 204, 'delete application answers 204');

    const gone = await getConfiguration({ path: { id: configId } });
    const problem: Problem | undefined = gone.error;
    check(gone.response.status === 404 && problem?.status === 404 && problem.type.endsWith('/not-found'),
        'the deleted configuration is a typed 404 problem');

    for (const environment of environments.reverse()) { // the child first; the application took its overrides
        const dropped = await deleteEnvironment({ path: { id: environment.id } });
        check(dropped.response.status === 204, `delete environment ${environment.name} answers 204`);
    }

    await scopedKey(baseUrl, config);
    console.log('typescript client: every step passed');
}

// The configuration read accepting a stale answer (answered current, without `Age`, while the database answers),
// then changed by a JSON merge patch with If-Match: a null removes a key at any depth, what the patch does not name
// stays; the same If-Match again is a typed 412.
async function patched(configId: string, config: ConfigDocument): Promise<void> {
    const current = await getConfiguration({
        path: { id: configId }, headers: { 'Cache-Control': 'stale-if-error=300' },
    });
    const etag = current.response.headers.get('ETag');
    check(current.response.status === 200 && etag !== null && current.response.headers.get('Age') === null,
        'a read accepting a stale answer is answered current, without Age');
    const patch = { config: { port: 6432, nested: { x: null } } };
    const merged = await patchConfiguration({ path: { id: configId }, headers: { 'If-Match': etag! }, body: patch });
    check(merged.response.status === 200 && merged.data?.version === current.data!.version + 1
        && merged.data.name === 'database' && same(merged.data.config, { ...config, port: 6432, nested: {} }),
        'the merge patch changes the port, removes nested.x, and keeps the rest');
    const again = await patchConfiguration({ path: { id: configId }, headers: { 'If-Match': etag! }, body: patch });
    check(again.response.status === 412 && (again.error as Problem | undefined)?.status === 412,
        'the patch with a stale If-Match is a typed 412 problem');
}

// Diffs of the configuration's revisions, the application read at a feed position, and the application exported,
// planned into a new one, applied with the plan's token, and applied again (412).
async function history(appId: string, configId: string, prefix: string, config: ConfigDocument): Promise<void> {
    const same = await getConfigurationDiff({ path: { id: configId }, query: { from: 1, to: 3 } });
    check(same.response.status === 200 && same.data?.patch.length === 0,
        'revision 3 restored revision 1: their diff is empty');
    const changed = await getConfigurationDiff({ path: { id: configId }, query: { from: 1, to: 2 } });
    check(changed.data?.patch.some((op) => isDeepStrictEqual(op, { op: 'replace', path: '/host', value: 'db2' }))
        === true, 'the diff from revision 1 to 2 replaces the host');
    const past = await getApplicationSnapshot({ path: { id: appId }, query: { seq: 1 } });
    check(past.response.status === 200 && past.data?.configurations.length === 1
        && isDeepStrictEqual(past.data.configurations[0].config, config),
        "the application at feed position 1 has the configuration's first version");
    const exported = await exportApplication({ path: { id: appId } });
    check(exported.data?.configurations.map((c) => c.name).join() === 'database', 'the export names the configuration');
    const document = exported.data!;
    const target = await createApplication({ body: { name: `${prefix}-copy` } });
    const targetId = target.data!.id;
    const plan = await planImport({ path: { id: targetId }, body: { document } });
    check(plan.response.status === 200 && plan.data?.items.length === 1 && plan.data.items[0].action === 'created',
        'the plan of the export into a new application creates its configuration');
    const body = { document, token: plan.data!.token };
    const applied = await applyImport({ path: { id: targetId }, body });
    check(applied.response.status === 200, 'applying the plan with its token answers 200');
    const copy = await exportApplication({ path: { id: targetId } });
    check(isDeepStrictEqual(copy.data?.configurations, document.configurations),
        'the new application exports what was imported');
    const again = await applyImport({ path: { id: targetId }, body });
    check(again.response.status === 412 && (again.error as Problem | undefined)?.status === 412,
        'the plan applied twice is a typed 412');
    const dropped = await deleteApplication({ path: { id: targetId } });
    check(dropped.response.status === 204, 'delete the copy');
}

// A root and a child environment, overrides in both of a new configuration, its effective view read by id and by
// names, compared, and watched; answers the two environments, root first.
async function environmentTree(appId: string, prefix: string): Promise<Environment[]> {
    const madeRoot = await createEnvironment({ body: { name: `${prefix}-prod` } });
    check(madeRoot.response.status === 201 && madeRoot.data?.parent_id === null,
        'create a root environment answers 201');
    const root = madeRoot.data!;
    const madeChild = await createEnvironment({ body: { name: `${prefix}-prod-eu`, parent_id: root.id } });
    check(madeChild.response.status === 201 && madeChild.data?.parent_id === root.id,
        'create a child environment answers 201 naming its parent');
    const child = madeChild.data!;

    const created = await createConfiguration({
        body: { application_id: appId, name: 'service', config: { host: 'db', port: 5432, pool: { min: 1, max: 10 } } },
    });
    check(created.response.status === 201 && created.data !== undefined,
        'create the configuration to override answers 201');
    const configId = created.data!.id;

    const parent = await putOverride({
        path: { id: configId, environment_id: root.id }, body: { patch: { host: 'db.prod' } },
    });
    check(parent.response.status === 201 && parent.data?.version === 1, "put the root's override answers 201");
    const removing: ConfigDocument = { pool: { max: 20 }, port: null };
    const own = await putOverride({ path: { id: configId, environment_id: child.id }, body: { patch: removing } });
    check(own.response.status === 201 && same(own.data?.patch, removing),
        "put the child's override (a null removes port) answers 201 and keeps the null");

    const read = await getEffectiveConfiguration({ path: { id: configId }, query: { environment_id: child.id } });
    check(read.response.status === 200 && read.data !== undefined, "the child's effective view answers 200");
    const view = read.data!;
    const etag = read.response.headers.get('ETag')!;
    check(same(view.config, { host: 'db.prod', pool: { min: 1, max: 20 } }),
        "the effective view merges the root's override, then the child's, over config");
    check(same(view.provenance, [
        { environment_id: null, environment: null, pointers: ['/pool/min'], removed: [] },
        { environment_id: root.id, environment: root.name, pointers: ['/host'], removed: [] },
        { environment_id: child.id, environment: child.name, pointers: ['/pool/max'], removed: ['/port'] },
    ]), 'the provenance names the layer of every value, root first, and the layer that removed the port');

    // A 304 is not `ok` to fetch: the client answers it as an `error` (an empty object), with no `data`.
    const unchanged = await getEffectiveConfiguration({
        path: { id: configId }, query: { environment_id: child.id }, headers: { 'If-None-Match': etag },
    });
    check(unchanged.response.status === 304 && unchanged.data === undefined, 'If-None-Match of the view answers 304');

    const named = await findEffective({
        query: { application: prefix, environment: child.name, configuration: 'service' },
    });
    check(named.response.status === 200 && named.data?.application_id === appId
        && named.data.environment_id === child.id && same(named.data.configurations, [view]),
    'findEffective by names answers the same view');

    const compared = await compareConfiguration({ path: { id: configId }, query: { from: root.id, to: child.id } });
    check(compared.response.status === 200 && compared.data !== undefined, 'compare the two environments answers 200');
    check(same(compared.data!.patch, [
        { op: 'replace', path: '/pool/max', value: 20 }, { op: 'remove', path: '/port' },
    ]), "the comparison is the JSON Patch from the root's view to the child's");
    check(same(compared.data!.from_provenance, [
        { environment_id: null, environment: null, pointers: ['/pool/max', '/port'], removed: [] },
    ]) && same(compared.data!.to_provenance, [
        { environment_id: child.id, environment: child.name, pointers: ['/pool/max'], removed: ['/port'] },
    ]), "each side's provenance names the layers of what differs");

    // The watch: held with If-None-Match and wait, then the root's override changes through the same client.
    const held = getEffectiveConfiguration({
        path: { id: configId }, query: { environment_id: child.id, wait: HELD }, headers: { 'If-None-Match': etag },
    });
    let settled = false;
    held.then(() => { settled = true; }, () => { settled = true; });
    const deadline = Date.now() + HANG_MS;
    // Until the service holds it: a write before that would be read, not waited for.
    while (((await getHealth()).data?.waiters ?? 0) < 1) {
        check(!settled, 'the watch is held while nothing changed');
        check(Date.now() < deadline, `the service holds the watch within ${HANG_MS / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const started = Date.now();
    const written = await putOverride({
        path: { id: configId, environment_id: root.id }, headers: { 'If-Match': parent.response.headers.get('ETag')! },
        body: { patch: { host: 'db.prod2' } },
    });
    check(written.response.status === 200 && written.data?.version === 2,
        "replacing the root's override with If-Match answers 200, version 2");
    const answered = await held;
    const took = Date.now() - started;
    check(took < HANG_MS, `the held watch is answered by the write, not by the end of its wait (${took / 1000} s)`);
    check(answered.response.status === 200 && answered.response.headers.get('ETag') !== etag
        && same(answered.data?.config, { host: 'db.prod2', pool: { min: 1, max: 20 } }),
    'the held watch is answered 200 with the new view');
    const now = await getEffectiveConfiguration({ path: { id: configId }, query: { environment_id: child.id } });
    check(now.response.headers.get('ETag') === answered.response.headers.get('ETag'),
        "the watch answered the view's current ETag");
    return [root, child];
}

// A key that may read application A only, created by the flow's client (whose key may manage keys everywhere),
// used by a client of its own, then revoked.
async function scopedKey(baseUrl: string, config: ConfigDocument): Promise<void> {
    const prefix = `sdk-ts-key-${Date.now()}`;
    const apps: { id: string; configId: string }[] = [];
    for (const side of ['a', 'b']) {
        const app = await createApplication({ body: { name: `${prefix}-${side}` } });
        check(app.response.status === 201 && app.data !== undefined, `create application ${side} answers 201`);
        const created = await createConfiguration({
            body: { application_id: app.data!.id, name: 'database', config },
        });
        check(created.response.status === 201 && created.data !== undefined,
            `create application ${side}'s configuration answers 201`);
        apps.push({ id: app.data!.id, configId: created.data!.id });
    }
    const [a, b] = apps;

    // A whole second, in the future: the answer gives it back exactly.
    const expires = new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000).toISOString().replace('.000Z', 'Z');
    const actions: KeyActions = ['read'];
    const asked: ApiKeyCreate = {
        name: prefix, actions, applications: [a.id], environments: null, expires_at: expires,
    };
    const made = await createKey({ body: asked });
    check(made.response.status === 201 && made.data?.secret.startsWith('csk_') === true,
        'createKey answers 201 with the secret');
    const key = made.data!;
    check(same(key.actions, ['read']) && same(key.applications, [a.id]) && key.environments === null
        && sameTime(key.expires_at, expires) && key.revoked_at === null && key.created_by.id === null,
    'the new key has the rights asked for, made by the settings key');
    check(made.response.headers.get('Location')?.endsWith(`/api/v1/keys/${key.id}`) === true,
        "createKey's Location names the key");
    const shown = await getKey({ path: { id: key.id } });
    check(shown.response.status === 200 && shown.data?.name === prefix && !('secret' in shown.data),
        'getKey answers the key without its secret');

    const scoped = createClient(createConfig<ClientOptions>({ baseUrl, auth: key.secret }));
    const read = await getConfiguration({ client: scoped, path: { id: a.configId } });
    check(read.response.status === 200 && same(read.data?.config, config), "the scoped key reads A's configuration");
    const hidden = await getConfiguration({ client: scoped, path: { id: b.configId } });
    const problem: Problem | undefined = hidden.error;
    check(hidden.response.status === 404 && problem?.status === 404 && problem.type.endsWith('/not-found')
        && problem.detail === 'No configuration has this id.',
    "B's configuration is to the scoped key the typed 404 of an id that does not exist");
    const listed = await listApplications({ client: scoped });
    check(listed.response.status === 200 && same(listed.data?.items.map((item) => item.id), [a.id])
        && listed.data?.next_cursor === null, 'the scoped key lists application A only');
    const written = await createApplication({ client: scoped, body: { name: `${prefix}-c` } });
    check(written.response.status === 403 && written.error?.status === 403, 'the read-only key may not write: 403');

    const own = await getCurrentKey({ client: scoped });
    check(own.response.status === 200 && own.data !== undefined, 'getCurrentKey answers 200');
    const rights: CurrentKey = own.data!;
    check(rights.open === false && rights.id === key.id && rights.name === prefix && rights.source === 'managed'
        && same(rights.actions, ['read']) && same(rights.applications, [a.id]) && rights.environments === null
        && sameTime(rights.expires_at, expires), 'getCurrentKey names the key and its rights');
    const mine = await getCurrentKey();
    check(mine.data?.source === 'settings' && mine.data.id === null
        && same(mine.data.actions, ['read', 'write', 'manage']) && mine.data.applications === null,
    'getCurrentKey of the settings key: every right, everywhere');

    const revoked = await revokeKey({ path: { id: key.id } });
    check(revoked.response.status === 204, 'revokeKey answers 204');
    const refused = await getConfiguration({ client: scoped, path: { id: a.configId } });
    check(refused.response.status === 401 && refused.error?.status === 401,
        "once revoked, the key's client gets a typed 401");
    check((await getCurrentKey({ client: scoped })).response.status === 401, 'getCurrentKey of the revoked key: 401');
    const after = await getKey({ path: { id: key.id } });
    check(after.response.status === 200 && typeof after.data?.revoked_at === 'string',
        'the revoked key stays readable, revoked_at set');

    for (const app of apps) {
        const deleted = await deleteApplication({ path: { id: app.id } });
        check(deleted.response.status === 204, `delete application ${app.id} answers 204`);
    }
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
