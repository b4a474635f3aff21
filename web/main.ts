/**
 * The /app page: wires the form, the map and the CSV flow, then labels the fields and offers the interval levels
 * from the model card.
 */
import { modelCard } from "./api/client";
import { wireBulk } from "./bulk";
import { byId } from "./dom";
import { createMap } from "./map";
import { currentPosition, describeFields, offerLevels, renderFields, setPosition, wireForm } from "./single";

const status = byId("house-status");
// One GET /model: labels get units and ranges, the level selector the card's levels.
const card = modelCard((m) => (status.textContent = m));
renderFields();
wireForm(card);
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

const CARD_MISSING = "The model card could not be loaded; units, ranges and price ranges are missing.";
void card.then(
  (c) => {
    if (c) {
      describeFields(c.features);
      offerLevels(c.intervals);
    }
    status.textContent = c ? "" : CARD_MISSING;
  },
  () => (status.textContent = CARD_MISSING),
);
