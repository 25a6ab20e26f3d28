import Type, { type TSchema } from "typebox";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

export const PageQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })),
  },
  { additionalProperties: false },
);

/**
 * `GET /v1/api-keys` answers every active key as one bare array unless it is asked for a page:
 * the same parameters as PageQuery, without a default limit.
 */
export const ApiKeyListQuery = Type.Object(
  {
    cursor: PageQuery.properties.cursor,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE })),
  },
  { additionalProperties: false },
);

/** `{"data": [...], "next_cursor": "…" | null}`: the shape of every paginated list. */
export function PageOf<Item extends TSchema>(item: Item) {
  return Type.Object(
    {
      data: Type.Array(item),
      next_cursor: Type.Union([Type.String(), Type.Null()], {
        description: "Pass it as `cursor` for the next page; null on the last one",
        examples: [null],
      }),
    },
    { additionalProperties: false, description: "One page of the list, newest first" },
  );
}
