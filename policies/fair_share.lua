-- fair_share: the same current for every car that wants it.
--
-- Every waiting car gets an equal share, within its own min and max and every
-- limit of the site (phases of the grid and of each sub-distribution, the power
-- limit, what earlier stages added). What one car cannot use goes to the others.
-- When not all cars fit at their minimum (6 A), some wait at 0; who waits
-- rotates, so nobody waits forever: a running car keeps its place for
-- `rotate_after` seconds while others wait, then yields to the longest waiting.
--
-- settings:
--   rotate_after  seconds a car charges before it yields to a waiting one (900)

-- The order of admission when not everyone fits: cars in their turn, then the
-- waiting (the longest waiting first), then cars whose turn is over (the most
-- recently started first); then by index. One sort key per car, negated for
-- the last (fusebox.sort sorts ascending; a Lua comparator in table.sort
-- costs a call per comparison).
local function by_turn(site, want, memory, rotate_after)
  local now = site.time
  local chargers = site.chargers
  local rank, key = table.create(#chargers), table.create(#chargers)
  for k = 1, #want do
    local i = want[k]
    local id = chargers[i].id
    local t = memory.since[id] or now
    if not memory.on[id] then
      rank[i], key[i] = 1, t                          -- waiting
    elseif now - t < rotate_after then
      rank[i], key[i] = 0, t                          -- in its turn
    else
      rank[i], key[i] = 2, -t                         -- turn over
    end
  end
  fusebox.sort(want, rank, key)
  return want
end

return {
  name = "fair_share",

  allocate = function(site)
    local memory = site.memory
    local on = memory.on or {}        -- id -> true while the car is given current
    local since = memory.since or {}  -- id -> time its state (on / waiting) began
    memory.on, memory.since = on, since
    local want = fusebox.wanting(site)
    local out, everyone = fusebox.fill_and_fits(site, want)
    if not everyone then
      out = fusebox.fill(site, by_turn(site, want, memory, site.config.rotate_after or 900))
    end

    -- Remember who runs and who waits, and since when: `out` holds every car
    -- that wants current.
    local now = site.time
    local known = 0   -- cars that want current and were remembered already
    local count = 0
    local remembered = memory.count
    memory.count = nil   -- unknown until the end, should this call be cut short
    for id, amps in pairs(out) do
      count = count + 1
      local running = amps > 0
      if since[id] == nil then
        since[id] = now
      else
        known = known + 1
        if (on[id] or false) ~= running then since[id] = now end
      end
      on[id] = running or nil
    end
    -- Forget the cars that no longer want current. memory.count is how many were
    -- remembered; when all of them still want, there is nobody to forget, and the
    -- walk over every remembered car is skipped.
    if remembered ~= known then
      for id in pairs(since) do
        if out[id] == nil then since[id] = nil; on[id] = nil end
      end
    end
    memory.count = count
    return out
  end,
}
