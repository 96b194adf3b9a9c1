// The configuration of the technician's page on the box (issue [7/8], agent/runtime/page.ts).
import { z } from 'zod';

export const pageSchema = z
  .strictObject({
    enabled: z.boolean('is not true or false').default(false),
    port: z.number().int().min(1, 'is not a port').max(65_535, 'is not a port').default(8080),
    /** Served only on these network interfaces (never the 4G bearer, wwan0 / ppp0, unless named here). */
    interfaces: z
      .array(z.string().regex(/^[\w.:-]{1,15}$/, 'is not an interface name'))
      .default(['eth0', 'end0', 'wlan0']),
    /** `scrypt$…`, set by `loa-provision page-password`; without it the page is not served. */
    passwordHash: z
      .string()
      .regex(/^scrypt\$\d+\$\d+\$\d+\$[\w-]+\$[\w-]+$/, 'is not an scrypt hash (loa-provision page-password sets it)')
      .optional(),
    /** A login lasts this long. */
    sessionMin: z.number().int().min(1).max(1440).default(30),
  })
  .prefault({});
