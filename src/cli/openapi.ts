#!/usr/bin/env node
// Prints the OpenAPI 3.1 document of a node with the default limits, as
// committed in docs/openapi.json:
//   npx tsc -p tsconfig.json && node dist/src/cli/openapi.js > docs/openapi.json

import { apiRoutes } from '../http/api-routes.js';
import { DEFAULT_MAX_WAIT_MS } from '../http/app.js';
import { buildOpenApiDocument } from '../http/openapi.js';

process.stdout.write(`${JSON.stringify(buildOpenApiDocument(apiRoutes(DEFAULT_MAX_WAIT_MS)), null, 2)}\n`);
