// The SDK round-trip through the TypeScript client that @hey-api/openapi-ts generates from the contract
// (conftest.py generates it into generated/ts and compiles this file with `tsc --strict`; flow_test.py runs it).
// Every request goes through the generated functions; node flow.js <base URL> [<API key>].
import { isDeepStrictEqual } from 'node:util';

import { client } from './generated/ts/client.gen';
import {
    createApplication, createConfiguration, deleteApplication, getApplication, getConfiguration,
    listApplications, listConfigurationRevisions, restoreConfigurationRevision, updateConfiguration,
} from './generated/ts/sdk.gen';
import type { ConfigDocument, Problem } from './generated/ts/types.gen';

function check(condition: boolean, what: string): void {
    if (!condition) {
        throw new Error(`failed: ${what}`);
    }
}

// The same JSON value, whatever the order of its keys (the service answers a document with PostgreSQL's).
const same = (a: unknown, b: unknown): boolean => isDeepStrictEqual(a, b);

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

    const deleted = await deleteApplication({ path: { id: appId } });
    check(deleted.response.status === 204, 'delete application answers 204');

    const gone = await getConfiguration({ path: { id: configId } });
    const problem: Problem | undefined = gone.error;
    check(gone.response.status === 404 && problem?.status === 404 && problem.type.endsWith('/not-found'),
        'the deleted configuration is a typed 404 problem');
    console.log('typescript client: every step passed');
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
