-- A family's place in the waiting room's line of an opening, given once (the next number of the line's
-- counter) and read afterwards. One call, which the portal makes outside any transaction of its own: the
-- line's counter row, updated by every family arriving in the opening's minutes, is then locked for this
-- call and its commit only, never across a round trip to the portal. The center is named by the caller
-- (the family's session's); the family must be that center's (the foreign key of waiting_room_places).
CREATE FUNCTION portail_waiting_room_place(p_center bigint, p_family bigint, p_opening timestamptz)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_position integer;
    BEGIN
        SELECT position INTO v_position FROM waiting_room_places
        WHERE center_id = p_center AND opening = p_opening AND family_id = p_family;
        IF v_position IS NOT NULL THEN
            RETURN v_position;
        END IF;
        INSERT INTO center_counters AS k (center_id, name, value)
        VALUES (p_center, 'waiting_room:' || extract(epoch FROM p_opening)::bigint, 1)
        ON CONFLICT (center_id, name) DO UPDATE SET value = k.value + 1
        RETURNING value INTO v_position;
        -- Two tabs at once: the second insert finds the first's place and takes it (its number is skipped,
        -- which only lets the line move a place sooner).
        INSERT INTO waiting_room_places (center_id, opening, family_id, position)
        VALUES (p_center, p_opening, p_family, v_position)
        ON CONFLICT (center_id, opening, family_id) DO NOTHING;
        SELECT position INTO v_position FROM waiting_room_places
        WHERE center_id = p_center AND opening = p_opening AND family_id = p_family;
        RETURN v_position;
    END
    $$;

REVOKE ALL ON FUNCTION portail_waiting_room_place(bigint, bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portail_waiting_room_place(bigint, bigint, timestamptz) TO portail_app;
