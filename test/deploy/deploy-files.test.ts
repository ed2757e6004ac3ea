// The deployment files of deploy/ (issue 12 point 5), checked with what runs
// here (docs/deploy.md says what does not): the Dockerfile parsed
// (dockerfile-ast) and its stages, user, volume, health check and copied
// paths checked; the compose file parsed as YAML and its services, wiring and
// mounts checked against the repository (and its Prometheus config run
// through promtool); the Kubernetes manifests validated against the
// Kubernetes API schemas (kubernetes-models) and their wiring checked; the
// systemd units run through `systemd-analyze verify`.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Copy, DockerfileParser } from 'dockerfile-ast';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Service } from 'kubernetes-models/v1/Service';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { deployPath, hasCommand, installPrometheus, readRepoFile, repoRoot } from './monitoring-files.js';

/** A parsed YAML value: read with `at`, never trusted to have a shape. */
type Yaml = unknown;
/** The member at `path` of a parsed YAML value, or undefined where the path leads nowhere. */
const at = (value: Yaml, ...path: (string | number)[]): Yaml =>
  path.reduce<Yaml>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string | number, Yaml>)[key] : undefined), value);
const list = (value: Yaml): Yaml[] => (Array.isArray(value) ? (value as Yaml[]) : []);
const record = (value: Yaml): Record<string, Yaml> => (typeof value === 'object' && value !== null ? (value as Record<string, Yaml>) : {});
const LEDGERD_ENTRY = 'dist/src/cli/ledgerd.js';

t.test('Dockerfile: two stages, non-root, data volume, health check on /readyz, every copied path exists', async (t) => {
  const dockerfile = DockerfileParser.parse(readFileSync(deployPath('docker', 'Dockerfile'), 'utf8'));
  const froms = dockerfile.getFROMs();
  t.ok(froms.length >= 2, 'multi-stage');
  const instructions = dockerfile.getInstructions();
  const lastFrom = instructions.lastIndexOf(froms[froms.length - 1] as never);
  const final = instructions.slice(lastFrom);
  const argsOf = (keyword: string) => final.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');
  const user = argsOf('USER').at(-1);
  t.ok(user !== undefined && !['root', '0'].includes(user.split(':')[0] as string), `runs as ${user}, not root`);
  t.match(argsOf('VOLUME').join(' '), '/data', 'the data directory is a volume');
  t.match(argsOf('ENV').join(' '), 'LEDGER_DATA=/data', 'and ledgerd uses it');
  t.match(argsOf('HEALTHCHECK').join(' '), '/readyz', 'healthy = ready');
  t.match(argsOf('ENTRYPOINT').join(' '), LEDGERD_ENTRY);
  t.equal(JSON.parse(readRepoFile('package.json')).bin.ledgerd, LEDGERD_ENTRY, "the entry is package.json's ledgerd");
  const ignored = readRepoFile('.dockerignore').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  const fromContext = instructions.filter((i): i is Copy => i instanceof Copy && i.getFromFlag() === null);
  t.ok(fromContext.length >= 3, 'the build stage copies the sources');
  for (const copy of fromContext) {
    const sources = (copy.getArguments().map((a) => a.getValue())).slice(0, -1);
    for (const source of sources) {
      t.ok(existsSync(join(repoRoot, source)), `COPY ${source} exists in the build context`);
      t.notOk(ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)), `${source} is not excluded by .dockerignore`);
    }
  }
  const fromBuild = final.filter((i): i is Copy => i instanceof Copy && i.getFromFlag() !== null).map((copy) => copy.getArguments().map((a) => a.getValue()).join(' '));
  t.ok(fromBuild.includes('/app/src/http/ui ./dist/src/http/ui'), "the image carries the console's files where src/http/routes/ui.ts looks first (dist/src/http/ui)");
  const build = JSON.parse(readFileSync(deployPath('docker', 'tsconfig.build.json'), 'utf8'));
  t.same(build.include, ['../../src/**/*.ts'], 'the image compiles src/ only');
  t.equal(resolve(deployPath('docker'), build.compilerOptions.outDir), join(repoRoot, 'dist'), `and writes ${LEDGERD_ENTRY} where the entry expects it`);
});

t.test('compose: three nodes wired to each other, Prometheus and Grafana provisioned from deploy/', async (t) => {
  const composePath = deployPath('compose', 'docker-compose.yml');
  const compose: Yaml = parse(readFileSync(composePath, 'utf8'), { merge: true });
  const here = dirname(composePath);
  const nodes = ['n1', 'n2', 'n3'];
  for (const id of nodes) {
    const service = at(compose, 'services', id);
    const environment = (name: string): Yaml => at(service, 'environment', name);
    t.equal(environment('LEDGER_ID'), id, `${id} has its id`);
    t.equal(environment('LEDGER_PEERS'), nodes.map((peer) => `${peer}=http://${peer}:7001`).join(','), `${id} reaches every peer by its service name`);
    t.equal(environment('LEDGER_LISTEN'), '0.0.0.0:7001');
    t.match(String(environment('LEDGER_CLUSTER_SECRET')), /^\$\{LEDGER_CLUSTER_SECRET:\?/, 'a cluster secret is required');
    t.match(String(environment('LEDGER_TOKENS')), /^\$\{LEDGER_TOKENS:\?/, 'tokens are required');
    t.same(at(service, 'volumes'), [`${id}-data:/data`], `${id} keeps its data on its own volume`);
    t.ok(`${id}-data` in record(at(compose, 'volumes')));
    t.ok(existsSync(resolve(here, String(at(service, 'build', 'context')), String(at(service, 'build', 'dockerfile')))), 'built from deploy/docker/Dockerfile');
    t.equal(at(service, 'stop_signal'), 'SIGTERM');
  }
  const mounts = (name: string): [string, string][] =>
    list(at(compose, 'services', name, 'volumes')).map(String).filter((v) => v.startsWith('.')).map((v) => v.split(':').slice(0, 2) as [string, string]);
  for (const name of ['prometheus', 'grafana']) {
    for (const [source] of mounts(name)) t.ok(existsSync(resolve(here, source)), `${name} mounts ${source}, which exists`);
  }
  t.same(mounts('prometheus').map(([source]) => resolve(here, source)), [join(here, 'prometheus.yml'), deployPath('prometheus', 'alerts.yml')]);
  const provider: Yaml = parse(readFileSync(deployPath('grafana', 'provisioning', 'dashboards', 'raft-ledger.yml'), 'utf8'));
  const dashboards = mounts('grafana').find(([source]) => resolve(here, source) === deployPath('grafana', 'dashboards'));
  t.equal(dashboards?.[1], at(provider, 'providers', 0, 'options', 'path'), 'dashboards are mounted where the provider loads them');
  t.ok(mounts('grafana').some(([source, target]) => resolve(here, source) === deployPath('grafana', 'provisioning') && target === '/etc/grafana/provisioning'));
  t.equal(at(compose, 'services', 'grafana', 'environment', 'PROMETHEUS_URL'), 'http://prometheus:9090', "the datasource's $PROMETHEUS_URL");

  // Same rules and scrape settings as deploy/prometheus/prometheus.yml; only targets and the cluster label differ.
  const base: Yaml = parse(readFileSync(deployPath('prometheus', 'prometheus.yml'), 'utf8'));
  const inCompose: Yaml = parse(readFileSync(join(here, 'prometheus.yml'), 'utf8'));
  const withoutTargets = (config: Yaml) => ({ ...record(config), global: { ...record(at(config, 'global')), external_labels: {} },
    scrape_configs: list(at(config, 'scrape_configs')).map((job) => ({ ...record(job), static_configs: undefined })) });
  t.same(withoutTargets(inCompose), withoutTargets(base));
  t.same(at(inCompose, 'scrape_configs', 0, 'static_configs', 0, 'targets'), nodes.map((id) => `${id}:7001`));
  t.ok('node-exporter' in record(at(compose, 'services')), 'the node job has its target');

  const install = installPrometheus();
  if (!install.ok) {
    if (install.skipReason !== undefined) t.comment(`promtool check skipped: ${install.skipReason}`);
    else t.fail(install.output);
    return;
  }
  // Lay the files out as the container sees them, then let promtool load config and rules.
  const layout = mkdtempSync(join(tmpdir(), 'compose-prometheus-'));
  t.teardown(() => rmSync(layout, { recursive: true, force: true }));
  copyFileSync(join(here, 'prometheus.yml'), join(layout, 'prometheus.yml'));
  copyFileSync(deployPath('prometheus', 'alerts.yml'), join(layout, 'alerts.yml'));
  const check = spawnSync('promtool', ['check', 'config', join(layout, 'prometheus.yml')], { encoding: 'utf8' });
  t.equal(check.status, 0, `promtool check config: ${check.stdout}${check.stderr}`);
});

const validators: Record<string, (document: Yaml) => { validate(): void }> = {
  'v1/Service': (document) => new Service(record(document)),
  'policy/v1/PodDisruptionBudget': (document) => new PodDisruptionBudget(record(document)),
  'apps/v1/StatefulSet': (document) => new StatefulSet(record(document)),
};

t.test('Kubernetes: manifests valid against the API schemas, StatefulSet + headless Service + readiness + PDB + graceful stop', async (t) => {
  const documents: Yaml[] = parseAllDocuments(readFileSync(deployPath('kubernetes', 'raft-ledger.yaml'), 'utf8')).map((document) => document.toJSON());
  const byKind = new Map<string, Yaml[]>();
  for (const document of documents) {
    const kind = String(at(document, 'kind'));
    const key = `${String(at(document, 'apiVersion'))}/${kind}`;
    const validator = validators[key];
    if (validator === undefined) {
      t.fail(`no schema check for ${key}`);
      continue;
    }
    t.doesNotThrow(() => validator(document).validate(), `${key} ${String(at(document, 'metadata', 'name'))} is valid`);
    byKind.set(kind, [...(byKind.get(kind) ?? []), document]);
  }
  const [statefulSet] = byKind.get('StatefulSet') ?? [];
  const services = byKind.get('Service') ?? [];
  const [budget] = byKind.get('PodDisruptionBudget') ?? [];
  const headless = services.find((service) => at(service, 'spec', 'clusterIP') === 'None');
  const headlessName = at(headless, 'metadata', 'name');
  t.equal(at(statefulSet, 'spec', 'serviceName'), headlessName, 'the StatefulSet names the headless Service');
  t.equal(at(headless, 'spec', 'publishNotReadyAddresses'), true, 'peers resolve each other before they are ready (readiness needs a leader)');
  const labels = at(statefulSet, 'spec', 'template', 'metadata', 'labels');
  for (const selector of [...services.map((s) => at(s, 'spec', 'selector')), at(budget, 'spec', 'selector', 'matchLabels'), at(statefulSet, 'spec', 'selector', 'matchLabels')]) {
    t.same(selector, labels, 'selects the pods');
  }
  t.equal(at(budget, 'spec', 'maxUnavailable'), 1, 'a voluntary disruption takes at most one of three voters');
  const pod = at(statefulSet, 'spec', 'template', 'spec');
  const container = at(pod, 'containers', 0);
  t.equal(at(container, 'readinessProbe', 'httpGet', 'path'), '/readyz');
  t.equal(at(container, 'livenessProbe', 'httpGet', 'path'), '/healthz');
  t.equal(at(pod, 'securityContext', 'runAsNonRoot'), true);
  t.ok(Number(at(pod, 'terminationGracePeriodSeconds')) >= 20, 'time for the hand-over and the bounded shutdown before SIGKILL');
  const env: Record<string, Yaml> = Object.fromEntries(list(at(container, 'env')).map((variable) => [String(at(variable, 'name')), at(variable, 'value') ?? at(variable, 'valueFrom')]));
  t.same(env['LEDGER_ID'], { fieldRef: { fieldPath: 'metadata.name' } }, 'each pod is the node named like it');
  const pods = Array.from({ length: Number(at(statefulSet, 'spec', 'replicas')) }, (_, ordinal) => `${String(at(statefulSet, 'metadata', 'name'))}-${ordinal}`);
  t.equal(env['LEDGER_PEERS'], pods.map((name) => `${name}=http://${name}.${String(headlessName)}:7001`).join(','), 'every replica is a founding voter at its stable DNS name');
  t.equal(at(list(at(container, 'volumeMounts')).find((mount) => at(mount, 'mountPath') === env['LEDGER_DATA']), 'name'), at(statefulSet, 'spec', 'volumeClaimTemplates', 0, 'metadata', 'name'), 'data on the claim');
});

t.test('systemd units pass systemd-analyze verify', async (t) => {
  const install = spawnSync('bash', [join(repoRoot, 'scripts', 'systemd-install.sh')], { encoding: 'utf8', timeout: 300_000 });
  if (install.status === 77 || !hasCommand('systemd-analyze')) {
    t.comment(`skipped: systemd-analyze is not available here: ${install.stdout}${install.stderr}`);
    t.pass('nothing to verify with');
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'systemd-units-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  // verify checks that ExecStart's program exists: point it at this machine's node.
  const unit = readFileSync(deployPath('systemd', 'raft-ledger@.service'), 'utf8');
  t.match(unit, 'ExecStart=/usr/bin/node /opt/raft-ledger/dist/src/cli/ledgerd.js');
  writeFileSync(join(work, 'raft-ledger@.service'), unit.replace('/usr/bin/node', process.execPath));
  copyFileSync(deployPath('systemd', 'raft-ledger.target'), join(work, 'raft-ledger.target'));
  symlinkSync('raft-ledger@.service', join(work, 'raft-ledger@n1.service'));
  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', join(work, 'raft-ledger@n1.service'), join(work, 'raft-ledger.target')], { encoding: 'utf8' });
  t.equal(verify.status, 0, verify.stderr);
  t.equal(verify.stderr.trim(), '', 'no warnings (unknown keys or values are warnings)');
  const example = readFileSync(deployPath('systemd', 'n1.env.example'), 'utf8');
  for (const key of ['LEDGER_ID', 'LEDGER_LISTEN', 'LEDGER_PEERS', 'LEDGER_CLUSTER_SECRET', 'LEDGER_TOKENS']) t.match(example, `\n${key}=`, `the example sets ${key}`);
});
