// Runs Amplify's @model transformer offline and writes what it generates: the mapping templates
// (assets) and the synthesized CloudFormation (root and nested stacks). Usage:
//   node transform.cjs SCHEMA.graphql OUT_DIR [RESOLVER_CONFIG_JSON [AUTH_CONFIG_JSON]]
// RESOLVER_CONFIG_JSON turns on conflict detection, e.g. '{"project": {"ConflictDetection": "VERSION",
// "ConflictHandler": "AUTOMERGE"}}' (what `amplify update api` writes for DataStore); a LAMBDA handler
// names its function: '{"project": {"ConflictDetection": "VERSION", "ConflictHandler": "LAMBDA",
// "LambdaConflictHandler": {"name": "resolveConflict"}}}'. '' (or omitted) leaves it off.
// AUTH_CONFIG_JSON is the API's auth configuration (the transformer's AppSyncAuthConfiguration), e.g.
// '{"defaultAuthentication": {"authenticationType": "AMAZON_COGNITO_USER_POOLS"},
//   "additionalAuthenticationProviders": [{"authenticationType": "API_KEY"}]}' for owner/group rules;
// omitted, the API has API_KEY as its only mode. With user pools the pool id is the root stack's
// parameter AuthCognitoUserPoolId, as the Amplify CLI writes it (known only once the pool is deployed).
// Resolves its npm packages from tests/node/node_modules (installed by tests/run.sh).
const fs = require('fs');
const path = require('path');
const Module = require('module');

const nodeModules = path.join(__dirname, '..', 'node', 'node_modules');
const req = Module.createRequire(path.join(nodeModules, 'noop.js'));
const { executeTransform } = req('@aws-amplify/graphql-transformer');
const { defaultTransformParameters, constructDataSourceStrategies, DDB_DEFAULT_DATASOURCE_STRATEGY } =
  req('@aws-amplify/graphql-transformer-core');
const { App, Stack, NestedStack, CfnParameter } = req('aws-cdk-lib');

const [schemaPath, outDir, resolverConfigJson, authConfigJson] = process.argv.slice(2);
if (!schemaPath || !outDir) {
  console.error('usage: node transform.cjs SCHEMA.graphql OUT_DIR [RESOLVER_CONFIG_JSON [AUTH_CONFIG_JSON]]');
  process.exit(2);
}
const schema = fs.readFileSync(schemaPath, 'utf8');
const cdkOut = path.join(outDir, 'cdk.out');
const app = new App({ outdir: cdkOut });
const root = new Stack(app, 'gqlsyncAmplifyRoot');
const assets = {};
const authConfig = authConfigJson ? JSON.parse(authConfigJson)
  : { defaultAuthentication: { authenticationType: 'API_KEY' }, additionalAuthenticationProviders: [] };
const usesUserPools = [authConfig.defaultAuthentication, ...(authConfig.additionalAuthenticationProviders || [])]
  .some((entry) => entry.authenticationType === 'AMAZON_COGNITO_USER_POOLS');
const userPoolId = usesUserPools
  ? new CfnParameter(root, 'AuthCognitoUserPoolId', { type: 'String' }).valueAsString : undefined;

executeTransform({
  schema,
  scope: root,
  resolverConfig: resolverConfigJson ? JSON.parse(resolverConfigJson) : undefined,
  nestedStackProvider: { provide: (scope, name) => new NestedStack(scope, name) },
  assetProvider: {
    provide: (scope, name, props) => {
      assets[props.fileName] = props.fileContent;
      const key = `assets/${props.fileName}`;
      return {
        assetHash: props.fileName,
        httpUrl: `https://gqlsync-assets.local/${key}`,
        s3BucketName: 'gqlsync-assets',
        s3ObjectKey: key,
        s3ObjectUrl: `s3://gqlsync-assets/${key}`,
      };
    },
  },
  synthParameters: { amplifyEnvironmentName: 'NONE', apiName: 'gqlsync', adminRoles: [], enableIamAccess: false,
                     userPoolId },
  transformersFactoryArgs: {},
  transformParameters: { ...defaultTransformParameters, sandboxModeEnabled: false },
  authConfig,
  dataSourceStrategies: constructDataSourceStrategies(schema, DDB_DEFAULT_DATASOURCE_STRATEGY),
  rdsLayerMapping: {},
  rdsSnsTopicMapping: {},
  printTransformerLog: (log) => { if (log.level === 'ERROR') console.error(log.message); },
});

const assembly = app.synth();
fs.mkdirSync(path.join(outDir, 'assets'), { recursive: true });
for (const [name, content] of Object.entries(assets)) {
  const file = path.join(outDir, 'assets', name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}
const templates = {};
for (const file of fs.readdirSync(assembly.directory)) {
  if (file.endsWith('.template.json')) {
    templates[file] = JSON.parse(fs.readFileSync(path.join(assembly.directory, file), 'utf8'));
  }
}
fs.writeFileSync(path.join(outDir, 'templates.json'), JSON.stringify(templates, null, 1));
console.log(JSON.stringify({ assets: Object.keys(assets).length, templates: Object.keys(templates) }));
