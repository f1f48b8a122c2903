/**
 * Small live charts: a rate per second over the last minute as an SVG sparkline, from counters
 * sampled at each refresh (the rate is the counter's growth divided by the time between).
 */
const SVG = 'http://www.w3.org/2000/svg';
const POINTS = 60;

export class RateChart {
  private readonly samples: number[] = [];
  private last: { value: number; at: number } | undefined;
  readonly element: HTMLElement;
  private readonly line: SVGPolylineElement;
  private readonly label: HTMLElement;

  constructor(readonly title: string) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${POINTS - 1} 30`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('aria-hidden', 'true');
    this.line = document.createElementNS(SVG, 'polyline');
    svg.append(this.line);
    this.label = document.createElement('strong');
    this.element = document.createElement('figure');
    this.element.className = 'chart';
    const caption = document.createElement('figcaption');
    caption.append(`${title}: `, this.label);
    this.element.append(caption, svg);
    this.label.textContent = '–';
  }

  /** A new reading of the counter; the first one only sets the baseline. */
  sample(counter: number, at = performance.now()): void {
    if (this.last && at > this.last.at) {
      // A counter that went down (a connection left with its counts) is a restart, not a negative rate.
      const rate = Math.max(0, counter - this.last.value) / ((at - this.last.at) / 1000);
      this.samples.push(rate);
      if (this.samples.length > POINTS) this.samples.shift();
      this.draw(rate);
    }
    this.last = { value: counter, at };
  }

  private draw(rate: number): void {
    this.label.textContent = `${Math.round(rate).toLocaleString('en-US')}/s`;
    const max = Math.max(1, ...this.samples);
    const offset = POINTS - this.samples.length;
    this.line.setAttribute('points', this.samples.map((r, i) => `${offset + i},${(30 - (r / max) * 28).toFixed(1)}`).join(' '));
  }
}
