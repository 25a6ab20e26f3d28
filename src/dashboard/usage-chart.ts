import type { ApiKeyUsage } from "@whatisup/client";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 70;
const HEIGHT = 20;
const BAR = 8;
const GAP = 2;

function svgElement<Tag extends keyof SVGElementTagNameMap>(tag: Tag, attributes: Record<string, string | number>): SVGElementTagNameMap[Tag] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/**
 * A small bar chart of a key's days, one bar each, its rejected requests drawn over it in the
 * danger colour. Screen readers get the numbers, day by day, as the image's label.
 */
export function usageChart(usage: ApiKeyUsage): SVGSVGElement {
  const days = usage.data;
  const most = Math.max(1, ...days.map((day) => day.requests));
  const label = `Requests, last ${days.length} days: ${days
    .map((day) => `${day.start.slice(0, 10)} ${day.requests}${day.rejected > 0 ? ` (${day.rejected} rejected)` : ""}`)
    .join(", ")}`;
  const chart = svgElement("svg", { width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": label, class: "usage-chart" });
  const title = svgElement("title", {});
  title.textContent = label;
  chart.append(title);
  days.forEach((day, index) => {
    const x = index * (BAR + GAP);
    const height = day.requests === 0 ? 1 : Math.max(2, Math.round((day.requests / most) * HEIGHT));
    chart.append(svgElement("rect", { x, y: HEIGHT - height, width: BAR, height, class: day.requests === 0 ? "usage-none" : "usage-requests" }));
    if (day.rejected > 0) {
      const rejected = Math.max(1, Math.round((day.rejected / most) * HEIGHT));
      chart.append(svgElement("rect", { x, y: HEIGHT - rejected, width: BAR, height: rejected, class: "usage-rejected" }));
    }
  });
  return chart;
}
