
return {
  name = nil,
  allocate = function(site)
    coroutine.yield(1)
    return {}
  end,
}
