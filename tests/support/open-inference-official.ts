import { readFileSync } from "node:fs";
import path from "node:path";
import Ajv from "ajv";
import { parse } from "yaml";

/**
 * Validators for the Open Inference Protocol's own component schemas, read from the committed copy of the
 * official OpenAPI file (tests/fixtures/open-inference). Independent of the service's zod schemas: a
 * response that passes both is what the protocol says, not only what the project thinks it says.
 * Objects are closed (no fields beyond the official ones), except the free-form `parameters`.
 */
const FILE = path.resolve("tests/fixtures/open-inference/open_inference_rest.yaml");

type Schema = Record<string, unknown>;

function closed(schema: Schema): Schema {
  if (schema.type === "object" && schema.properties && schema.additionalProperties === undefined) {
    return { ...schema, additionalProperties: false };
  }
  return schema;
}

const doc = parse(readFileSync(FILE, "utf8")) as { components: { schemas: Record<string, Schema> } };
const schemas = Object.fromEntries(Object.entries(doc.components.schemas).map(([k, v]) => [k, closed(v)]));
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema({ $id: "open-inference", components: { schemas } });

export type OfficialComponent =
  | "metadata_server_response"
  | "metadata_server_error_response"
  | "metadata_model_response"
  | "metadata_model_error_response"
  | "inference_request"
  | "inference_response"
  | "inference_error_response";

/** The official component's errors for `value` (empty when it validates). */
export function officialErrors(component: OfficialComponent, value: unknown): string[] {
  const validate = ajv.getSchema(`open-inference#/components/schemas/${component}`);
  if (!validate) throw new Error(`no component ${component} in ${FILE}`);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message} ${JSON.stringify(e.params)}`);
}

/** The official component schemas as written (objects not closed), to compare the project's own against. */
export function officialComponents(): Record<string, Record<string, unknown>> {
  return doc.components.schemas;
}
