// Amplify's model codegen (what `amplify codegen models` runs, @aws-amplify/graphql-generator) for a
// DataStore app: writes the generated JavaScript models (schema.js, index.js and their .d.ts) into OUT_DIR,
// plus a package.json marking the folder as ES modules, which is how the generated files are written.
// Usage: node models.cjs SCHEMA.graphql OUT_DIR   (packages from ./node_modules, installed by tests/run.sh)
const fs = require('fs');
const path = require('path');
const { generateModels } = require('@aws-amplify/graphql-generator');

const [schemaPath, outDir] = process.argv.slice(2);
if (!schemaPath || !outDir) {
  console.error('usage: node models.cjs SCHEMA.graphql OUT_DIR');
  process.exit(2);
}
generateModels({ schema: fs.readFileSync(schemaPath, 'utf8'), target: 'javascript', isDataStoreEnabled: true })
  .then((files) => {
    fs.mkdirSync(outDir, { recursive: true });
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(outDir, name), content);
    fs.writeFileSync(path.join(outDir, 'package.json'), '{"type": "module"}\n');
    console.log(JSON.stringify(Object.keys(files)));
  })
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
