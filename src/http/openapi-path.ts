/** Where a node serves its OpenAPI document (src/http/openapi.ts builds it). */
export const OPENAPI_PATH = '/openapi.json';
