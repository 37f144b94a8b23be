/**
 * The router's config fields: path-safety rules for the listener (`server.paths`) and the match
 * options of a route beyond path, host, method and headers. README "Which route wins" and
 * "Path safety" describe what they do.
 */
import { Type } from '@sinclair/typebox';
import { Strict } from '../config/types.js';

export const PathsSchema = Strict(
  {
    matrixParameters: Type.Union([Type.Literal('refuse'), Type.Literal('strip')], {
      default: 'refuse',
      description:
        'A ";" in a path segment (matrix parameters, Tomcat/Spring "/admin;x" and "/..;/") is refused with 400 GW_ERR_PATH_INVALID (refuse), ' +
        'or everything from ";" to the end of each segment is removed before matching and forwarding (strip).',
    }),
    trailingDotOrSpace: Type.Union([Type.Literal('refuse'), Type.Literal('allow')], {
      default: 'refuse',
      description:
        'A path segment ending in "." or in a space ("%20"), which Windows/IIS-style backends read without it ("/admin./x" as "/admin/x"), ' +
        'is refused with 400 GW_ERR_PATH_INVALID (refuse) or matched and forwarded as it is (allow).',
    }),
    caseVariants: Type.Union([Type.Literal('refuse'), Type.Literal('route')], {
      default: 'refuse',
      description:
        'Paths are matched case-sensitively (unless a route sets match.caseInsensitive). With refuse, a request that a more specific ' +
        'route would take if letter case were ignored ("/ADMIN/x" beside a route for "/admin") is refused with 400 GW_ERR_PATH_INVALID, ' +
        'so a case-insensitive backend cannot be reached past that route; with route it goes to the route its exact spelling matches.',
    }),
  },
  { default: {}, description: 'Path forms that backends read differently from the gateway (README "Path safety").' },
);

/** Fields spread into MatchSchema. */
export const matchOptionFields = {
  methodFallthrough: Type.Boolean({
    default: false,
    description:
      'By default the most specific path match decides: a method this route does not allow is 405 with Allow, even when a less specific ' +
      'route would take it. true lets such a request go on to the next less specific match (only when every route of this path match says so).',
  }),
  caseInsensitive: Type.Boolean({
    default: false,
    description: 'Match the literal parts of path/pathPrefix ignoring ASCII letter case ("/Admin" matches "/admin"); the path is forwarded as sent.',
  }),
};
