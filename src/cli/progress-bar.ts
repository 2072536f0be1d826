// A one-line progress bar with rate and ETA. On a terminal it redraws in place;
// elsewhere the caller prints whole lines instead (no control characters).
import { formatBytes } from './format.js';

export interface BarState {
  label: string;
  done: number;
  total: number;
  rateBytesPerSecond?: number;
  eta?: string;
}

export function renderBar(state: BarState, width = 30): string {
  const fraction = state.total > 0 ? Math.min(state.done / state.total, 1) : 0;
  const filled = Math.round(fraction * width);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
  const rate = state.rateBytesPerSecond !== undefined ? ` ${formatBytes(state.rateBytesPerSecond)}/s` : '';
  const eta = state.eta ? ` ETA ${state.eta}` : '';
  return `${state.label} ${bar} ${(fraction * 100).toFixed(1).padStart(5)}% ${formatBytes(state.done)}/${formatBytes(state.total)}${rate}${eta}`;
}
