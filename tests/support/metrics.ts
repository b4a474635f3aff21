import type { Service } from "../../shared/service";

/** The sum of every sample in Prometheus text whose series starts with `name` (e.g. `x_total{route="/a"`). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").pop());
  return sum;
}

/** A metric of an in-process service, read as a scrape would (collect() hooks included). */
export async function serviceMetric(service: Service, name: string): Promise<number> {
  return metricSum(await service.metrics.registry.metrics(), name);
}
