/** The /app page: wires the form, the map and the CSV flow, then labels the fields from the model card. */
import { modelFeatures } from "./api/client";
import { wireBulk } from "./bulk";
import { byId } from "./dom";
import { createMap } from "./map";
import { currentPosition, describeFields, renderFields, setPosition, wireForm } from "./single";

renderFields();
wireForm();
wireBulk();
const map = createMap((lat, lon) => setPosition(lat, lon));
const start = currentPosition();
if (start) map.mark(start.lat, start.lon);
for (const id of ["Latitude", "Longitude"]) {
  byId(id).addEventListener("change", () => {
    const p = currentPosition();
    if (p) map.mark(p.lat, p.lon);
  });
}

const status = byId("house-status");
void modelFeatures((m) => (status.textContent = m)).then(
  (features) => {
    if (features) describeFields(features);
    status.textContent = "";
  },
  () => (status.textContent = "The model card could not be loaded; units and ranges are missing."),
);
