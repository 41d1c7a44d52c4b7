// A task's parameter form, generated from its JSON Schema (GET /api/tasks: params.properties).
import { h, humanize, figure } from "./dom.js";

let serial = 0;

/** The schema without its null alternative: {schema, nullable}. */
export function unwrap(schema) {
  if (Array.isArray(schema.anyOf)) {
    const inner = schema.anyOf.find((s) => s.type !== "null") || {};
    const nullable = schema.anyOf.some((s) => s.type === "null");
    return { schema: { ...inner, default: schema.default, description: schema.description }, nullable };
  }
  return { schema, nullable: false };
}

function rangeText(s) {
  const low = s.minimum ?? s.exclusiveMinimum;
  const high = s.maximum ?? s.exclusiveMaximum;
  if (low === undefined && high === undefined) return "";
  if (s.minimum !== undefined && s.maximum !== undefined) return `${figure(s.minimum)} – ${figure(s.maximum)}`;
  const lo = low === undefined ? "" : `${s.exclusiveMinimum !== undefined ? ">" : "≥"} ${figure(low)}`;
  const hi = high === undefined ? "" : `${s.exclusiveMaximum !== undefined ? "<" : "≤"} ${figure(high)}`;
  return [lo, hi].filter(Boolean).join(", ");
}

/**
 * One field: {name, row, read(), write(value), input}.
 * options.datalist(name) -> [{value, label}] offers suggestions for a string field;
 * options.extra(name, input) -> a node shown under the field (the edit pipeline's op picker).
 */
export function field(name, rawSchema, required, options = {}) {
  const { schema, nullable } = unwrap(rawSchema);
  const id = `p-${name}-${++serial}`;
  const helpId = `${id}-help`;
  const label = h("label", { for: id }, humanize(name));
  const description = [schema.description, rangeText(schema)].filter(Boolean).join(" · ");
  const help = description ? h("small", { id: helpId, class: "help" }, description) : null;
  const described = help ? helpId : null;
  let input, read, write;

  if (Array.isArray(schema.enum)) {
    input = h("select", { id, name, "aria-describedby": described });
    if (nullable) input.append(h("option", { value: "" }, "(none)"));
    schema.enum.forEach((v, i) => input.append(h("option", { value: String(i) }, String(v))));
    read = () => (input.value === "" ? null : schema.enum[Number(input.value)]);
    write = (v) => {
      const i = schema.enum.findIndex((e) => e === v || String(e) === String(v));
      input.value = i >= 0 ? String(i) : nullable ? "" : "0";
    };
  } else if (schema.type === "boolean") {
    input = h("input", { id, name, type: "checkbox", "aria-describedby": described });
    read = () => input.checked;
    write = (v) => { input.checked = Boolean(v); };
    const row = h("div", { class: "field field-check", dataset: { param: name } },
      h("div", { class: "check" }, input, label), help);
    write(schema.default);
    return { name, row, input, read, write };
  } else if (schema.type === "integer" || schema.type === "number") {
    const integer = schema.type === "integer";
    input = h("input", {
      id, name, type: "number", inputmode: integer ? "numeric" : "decimal",
      step: integer ? "1" : "any", min: schema.minimum ?? schema.exclusiveMinimum, max: schema.maximum ?? schema.exclusiveMaximum,
      required: required && !nullable, placeholder: nullable ? "auto" : null, "aria-describedby": described,
    });
    read = () => {
      const text = input.value.trim();
      if (text === "") {
        if (nullable) return null;
        if (required) throw new Error(`${humanize(name)} needs a value`);
        return undefined;
      }
      const value = Number(text);
      if (!isFinite(value) || (integer && !Number.isInteger(value))) {
        throw new Error(`${humanize(name)} must be ${integer ? "a whole number" : "a number"}`);
      }
      return value;
    };
    write = (v) => { input.value = v === null || v === undefined ? "" : String(v); };
  } else if (schema.type === "array") {
    input = h("input", { id, name, type: "text", placeholder: "comma-separated, e.g. 1, 2", "aria-describedby": described });
    read = () => {
      const text = input.value.trim();
      if (text === "") return nullable ? null : undefined;
      const numeric = ["integer", "number"].includes(schema.items?.type);
      return text.split(/[\s,]+/).filter(Boolean).map((t) => (numeric ? Number(t) : t));
    };
    write = (v) => { input.value = Array.isArray(v) ? v.join(", ") : ""; };
  } else {
    const list = options.datalist ? options.datalist(name) : null;
    const listId = list && list.length ? `${id}-list` : null;
    input = h("input", {
      id, name, type: "text", list: listId, autocomplete: "off", spellcheck: "false",
      required: required && !nullable, placeholder: nullable ? "(none)" : null, "aria-describedby": described,
    });
    read = () => {
      const text = input.value.trim();
      if (text === "") {
        if (nullable) return null;
        if (required) throw new Error(`${humanize(name)} needs a value`);
        return rawSchema.default === "" ? "" : undefined;
      }
      return text;
    };
    write = (v) => { input.value = v === null || v === undefined ? "" : String(v); };
    if (listId) {
      const datalist = h("datalist", { id: listId });
      for (const item of list) datalist.append(h("option", { value: item.value, label: item.label || null }));
      input._datalist = datalist;
    }
  }
  write(schema.default);
  const extra = options.extra ? options.extra(name, input) : null;
  const row = h("div", { class: "field", dataset: { param: name } }, label, input, input._datalist, help, extra);
  return { name, row, input, read, write };
}

/** The whole form of a task's parameters: {root, read(), write(values), fields}. */
export function paramsForm(task, options = {}) {
  const props = task.params?.properties || {};
  const required = new Set(task.params?.required || []);
  const fields = Object.entries(props).map(([name, schema]) => field(name, schema, required.has(name), options));
  const root = h("div", { class: "params" }, fields.map((f) => f.row));
  return {
    root,
    fields,
    read() {
      const out = {};
      for (const f of fields) {
        const value = f.read();
        if (value !== undefined) out[f.name] = value;
      }
      return out;
    },
    write(values) {
      for (const f of fields) if (values && f.name in values) f.write(values[f.name]);
    },
    input(name) {
      return fields.find((f) => f.name === name)?.input;
    },
  };
}
