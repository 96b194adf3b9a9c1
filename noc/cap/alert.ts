// A CAP 1.2 alert as plain data: the namespace, the value lists of OASIS CAP 1.2 §3.2
// (status, msgType, scope, category, responseType, urgency, severity, certainty), the
// shapes validateCap (validate.ts) reads a message into, and the key ("sender,identifier,
// sent") references name an alert by. No logic beyond that key.
export const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';

export const STATUS = ['Actual', 'Exercise', 'System', 'Test', 'Draft'] as const;
export const MSG_TYPE = ['Alert', 'Update', 'Cancel', 'Ack', 'Error'] as const;
export const SCOPE = ['Public', 'Restricted', 'Private'] as const;
export const CATEGORY = [
  'Geo',
  'Met',
  'Safety',
  'Security',
  'Rescue',
  'Fire',
  'Health',
  'Env',
  'Transport',
  'Infra',
  'CBRNE',
  'Other',
] as const;
export const RESPONSE_TYPE = [
  'Shelter',
  'Evacuate',
  'Prepare',
  'Execute',
  'Avoid',
  'Monitor',
  'Assess',
  'AllClear',
  'None',
] as const;
export const URGENCY = ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'] as const;
export const SEVERITY = ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'] as const;
export const CERTAINTY = ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown'] as const;

export interface CapRef {
  sender: string;
  identifier: string;
  sent: string;
}
export interface NameValue {
  valueName: string;
  value: string;
}
export interface CapResource {
  resourceDesc: string;
  mimeType: string;
  size?: number;
  uri?: string;
  derefUri?: string;
  digest?: string;
}
export interface CapArea {
  areaDesc: string;
  /** Each polygon as [lat, lon] points, the first repeated last. */
  polygons: [number, number][][];
  circles: { lat: number; lon: number; radiusKm: number }[];
  geocodes: NameValue[];
  altitude?: number;
  ceiling?: number;
}
export interface CapInfo {
  language: string;
  categories: string[];
  event: string;
  responseTypes: string[];
  urgency: string;
  severity: string;
  certainty: string;
  audience?: string;
  eventCodes: NameValue[];
  effective?: string;
  onset?: string;
  expires?: string;
  senderName?: string;
  headline?: string;
  description?: string;
  instruction?: string;
  web?: string;
  contact?: string;
  parameters: NameValue[];
  resources: CapResource[];
  areas: CapArea[];
}
export interface CapAlert {
  identifier: string;
  sender: string;
  sent: string;
  status: string;
  msgType: string;
  source?: string;
  scope: string;
  restriction?: string;
  addresses?: string;
  codes: string[];
  note?: string;
  references: CapRef[];
  incidents?: string;
  infos: CapInfo[];
}

export type CapVerdict = { ok: true; alert: CapAlert } | { ok: false; problems: string[] };

/** The CAP key of a message, as references name it: "sender,identifier,sent". */
export function capKey(a: { sender: string; identifier: string; sent: string }): string {
  return `${a.sender},${a.identifier},${a.sent}`;
}
