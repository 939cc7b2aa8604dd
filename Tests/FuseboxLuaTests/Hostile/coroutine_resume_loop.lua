
return {
  name = nil,
  allocate = function(site)
    while true do
      coroutine.resume(coroutine.create(function() while true do end end))
    end
  end,
}
