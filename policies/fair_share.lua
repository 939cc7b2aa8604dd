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

local function by_turn(site, want, memory, rotate_after)
  local now = site.time
  local chargers = site.chargers
  local rank, since = {}, {}
  for _, i in ipairs(want) do
    local id = chargers[i].id
    local t = memory.since[id] or now
    since[i] = t
    if memory.on[id] then
      rank[i] = (now - t < rotate_after) and 0 or 2   -- in its turn / turn over
    else
      rank[i] = 1                                     -- waiting
    end
  end
  table.sort(want, function(a, b)
    if rank[a] ~= rank[b] then return rank[a] < rank[b] end
    if since[a] ~= since[b] then
      -- waiting: the longest waiting first; turn over: the most recently started first
      if rank[a] == 2 then return since[a] > since[b] end
      return since[a] < since[b]
    end
    return a < b
  end)
  return want
end

return {
  name = "fair_share",

  allocate = function(site)
    local memory = site.memory
    memory.on = memory.on or {}       -- id -> true while the car is given current
    memory.since = memory.since or {} -- id -> time its state (on / waiting) began
    local want = fusebox.wanting(site)
    local order = want
    if not fusebox.fits(site, want) then
      order = by_turn(site, want, memory, site.config.rotate_after or 900)
    end
    local out = fusebox.fill(site, order)

    -- Remember who runs and who waits, and since when.
    local seen = {}
    for _, i in ipairs(want) do
      local id = site.chargers[i].id
      local on = (out[id] or 0) > 0
      seen[id] = true
      if memory.since[id] == nil or (memory.on[id] or false) ~= on then
        memory.since[id] = site.time
      end
      memory.on[id] = on or nil
    end
    for id in pairs(memory.since) do
      if not seen[id] then memory.since[id] = nil; memory.on[id] = nil end
    end
    return out
  end,
}
